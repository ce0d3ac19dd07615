# launch/slurm.sbatch under a real SLURM: munged, slurmctld and slurmd started
# on this machine by launch/slurm-local.sh in a private folder of the build
# tree (tests/slurm.sh), outside runs/ so that runs_clean never deletes it
# under running daemons.  It checks launch/study.sh --slurm too (a study as
# job arrays), with INNA_PYTHON for the study tools.  Installs slurm-wlm and munge when missing and root;
# skipped (77) when they are missing and cannot be installed; fails when the
# daemons do not start.  It uses both cores: PROCESSORS 2 keeps ctest -j from
# running other tests beside it.
add_test(NAME slurm_real_daemons
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm.sh $<TARGET_FILE:inna>
                 ${PROJECT_SOURCE_DIR}/configs/tiny.ini ${CMAKE_CURRENT_BINARY_DIR}/slurm
                 ${PROJECT_SOURCE_DIR} "${INNA_PYTHON}" ${INNA_MPIRUN})
set_tests_properties(slurm_real_daemons PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 PROCESSORS 2)
