# Real multi-node runs on one machine: launch/multinode.sh makes each simulated host a
# network namespace and mpirun reaches them over TCP. The tiny net trained for 6 steps on
# 3 hosts x 1 rank and 2 hosts x 2 ranks must give the model of 1 rank within
# INNA_MULTINODE_TOL (max|a - b| / max|a| per dataset; 0 = bitwise), and 3 hosts must give
# exactly the model of 3 local ranks. Skipped (77) where namespaces cannot be made
# (not root, no CAP_SYS_ADMIN) or without h5py.
set(INNA_MULTINODE_TOL 0 CACHE STRING
    "largest relative difference allowed between 1-rank and multi-host models (0: bitwise)")
if(INNA_PYTHON)
  set(_mn_py ${INNA_PYTHON})
else()
  set(_mn_py none)
endif()
foreach(engine ${INNA_ENGINES})
  add_test(NAME multinode_netns_bitwise_${engine}
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/multinode_bitwise.sh
                   ${PROJECT_SOURCE_DIR}/launch/multinode.sh ${_mn_py} ${INNA_MULTINODE_TOL}
                   ${CMAKE_CURRENT_BINARY_DIR}/runs/multinode_${engine} $<TARGET_FILE:inna>
                   ${PROJECT_SOURCE_DIR}/configs/tiny.ini ${INNA_MPIRUN})
  # The TIMEOUT stays above multinode.sh's own -t 120, so its traps, not a SIGKILL from
  # CTest, end a stuck job and remove the namespaces.
  set_tests_properties(multinode_netns_bitwise_${engine} PROPERTIES
                       SKIP_RETURN_CODE 77 TIMEOUT 300
                       ENVIRONMENT "MPIRUN=${MPIEXEC_EXECUTABLE};INNA_ENGINE=${engine}")
endforeach()
