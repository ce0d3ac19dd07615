# Launching: the run folder, the launch lines, the BLAS kernel -- with real jobs.
set(_runs ${CMAKE_CURRENT_BINARY_DIR}/runs)

# One job per folder (a lock the kernel drops on SIGKILL); a kill mid-write
# leaves a temporary file that the resume removes (tests/runfolder.sh).
add_test(NAME runfolder_lock_and_debris
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/runfolder.sh $<TARGET_FILE:inna>
                 ${PROJECT_SOURCE_DIR}/configs/tiny.ini ${_runs}/runfolder ${INNA_MPIRUN})
set_tests_properties(runfolder_lock_and_debris PROPERTIES
                     ENVIRONMENT "OMP_WAIT_POLICY=passive" TIMEOUT 300)

# Every README launch line gives the same bits, whatever the thread
# variables, binding or rank count say (tests/launch_lines.sh).
# Once per engine; oneDNN does not read OPENBLAS_CORETYPE: one case of it.
foreach(engine ${INNA_ENGINES})
  set(_coretypes "environment unset")
  if(engine STREQUAL "onednn")
    set(_coretypes environment)
  endif()
  add_test(NAME launch_lines_bitwise_${engine}
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/launch_lines.sh $<TARGET_FILE:inna>
                   ${PROJECT_SOURCE_DIR}/configs/nin-fashion-mnist.ini ${_runs}/launch_lines_${engine}
                   ${INNA_MPIRUN_PLAIN})
  set_tests_properties(launch_lines_bitwise_${engine} PROPERTIES TIMEOUT 600
                       ENVIRONMENT "OMP_WAIT_POLICY=passive;INNA_ENGINE=${engine};INNA_CORETYPES=${_coretypes}")
endforeach()

# The OpenBLAS kernel of the CPU's instruction set when the library falls back
# (forced for real), with and without mpirun; the user's choice honoured.
add_test(NAME blas_kernel_fallback
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/blas_kernel.sh $<TARGET_FILE:inna>
                 ${PROJECT_SOURCE_DIR}/configs/tiny.ini ${_runs}/blas_kernel ${INNA_MPIRUN})
set_tests_properties(blas_kernel_fallback PROPERTIES SKIP_RETURN_CODE 77
                     ENVIRONMENT "OMP_WAIT_POLICY=passive;INNA_ENGINE=openblas")
