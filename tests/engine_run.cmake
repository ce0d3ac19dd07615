# The engine of a run: printed, kept in checkpoints, a resume on another
# engine warned about, a mixed cluster refused (tests/engine_run.sh).
add_test(NAME engine_recorded_and_checked
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/engine_run.sh $<TARGET_FILE:inna>
                 ${PROJECT_SOURCE_DIR}/configs/tiny.ini ${CMAKE_CURRENT_BINARY_DIR}/runs/engine_run
                 ${INNA_MPIRUN})
set_tests_properties(engine_recorded_and_checked PROPERTIES
                     ENVIRONMENT "OMP_WAIT_POLICY=passive" TIMEOUT 300)
