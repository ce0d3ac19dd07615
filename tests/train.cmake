# End-to-end tests of the inna program under mpirun, on configs/tiny.ini
# (a small NiN-shaped net on 2,048 Fashion-MNIST images).
set(TINY ${PROJECT_SOURCE_DIR}/configs/tiny.ini)
set(RUNS ${CMAKE_CURRENT_BINARY_DIR}/runs)
# Idle OpenMP threads sleep rather than spin (the tests run more threads than
# the machine has cores).  No BLAS thread variable: the bitwise tests must
# hold with it unset, as a user runs them (exact mode sets one thread itself).
set(TRAIN_ENV OMP_WAIT_POLICY=passive)
if(INNA_PYTHON)
  set(PY ${INNA_PYTHON})
else()
  set(PY sh -c "echo 'no Python with h5py: skipped'; exit 77" --)
endif()

# A new run refuses a folder that holds an earlier run: start from clean folders.
add_test(NAME runs_clean COMMAND ${CMAKE_COMMAND} -E rm -rf ${RUNS})
set_tests_properties(runs_clean PROPERTIES FIXTURES_SETUP runs_clean)

# The same 6 steps (batch 32 in chunks of 4, dropout on) on 1 to 4 ranks; 3
# ranks split the 8 chunks unevenly.
foreach(np 1 2 3 4)
  add_test(NAME train_np${np}
           COMMAND ${INNA_MPIRUN} -np ${np} $<TARGET_FILE:inna> ${TINY}
                   --set run.out=${RUNS}/np${np} --set train.steps=6 --set train.batch=32
                   --set dist.chunk=4
                   --set run.check_every=1)
  set_tests_properties(train_np${np} PROPERTIES FIXTURES_SETUP np${np} ENVIRONMENT "${TRAIN_ENV}")
endforeach()
add_test(NAME train_steps0
         COMMAND ${INNA_MPIRUN} -np 2 $<TARGET_FILE:inna> ${TINY}
                 --set run.out=${RUNS}/steps0 --set train.steps=0)
set_tests_properties(train_steps0 PROPERTIES FIXTURES_SETUP steps0 ENVIRONMENT "${TRAIN_ENV}")

# np = 2, 3, 4 reach the parameters of np = 1 bit for bit (exact reduction).
foreach(np 2 3 4)
  add_test(NAME train_np${np}_matches_np1
           COMMAND ${PY} ${CMAKE_CURRENT_SOURCE_DIR}/compare_models.py
                   ${RUNS}/np1/model.h5 ${RUNS}/np${np}/model.h5 same 0)
  set_tests_properties(train_np${np}_matches_np1 PROPERTIES
                       FIXTURES_REQUIRED "np1;np${np}" SKIP_RETURN_CODE 77)
endforeach()
# Bitwise across ranks for every optimizer, dropout and augmentation on, and
# reduction = fast differs from exact only by float rounding.
# Once per engine (INNA_ENGINES): each engine's bits are the same for any
# ranks x threads (the two engines' bits differ from each other).  oneDNN in
# chunks of 4 (4 + 4 + 2): its primitives for a short chunk are made at their
# first use, and must give the same bits wherever that chunk runs.
foreach(engine ${INNA_ENGINES})
  set(_chunk 2)
  if(engine STREQUAL "onednn")
    set(_chunk 4)
  endif()
  add_test(NAME bitwise_ranks_optimizers_${engine}
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/bitwise.sh $<TARGET_FILE:inna> ${TINY}
                   ${RUNS}/bitwise_${engine} ${INNA_MPIRUN})
  set_tests_properties(bitwise_ranks_optimizers_${engine} PROPERTIES
                       ENVIRONMENT "${TRAIN_ENV};INNA_ENGINE=${engine};INNA_BITWISE_CHUNK=${_chunk}")
endforeach()
# ... and those 6 steps did move the parameters (so the match above means something).
add_test(NAME train_steps_move_params
         COMMAND ${PY} ${CMAKE_CURRENT_SOURCE_DIR}/compare_models.py
                 ${RUNS}/steps0/model.h5 ${RUNS}/np1/model.h5 differ 1e-3)
set_tests_properties(train_steps_move_params PROPERTIES
                     FIXTURES_REQUIRED "np1;steps0" SKIP_RETURN_CODE 77)
# 0 steps: the model file holds the He-initialised weights.
add_test(NAME train_steps0_initial_model
         COMMAND ${PY} ${CMAKE_CURRENT_SOURCE_DIR}/check_init.py ${RUNS}/steps0/model.h5)
set_tests_properties(train_steps0_initial_model PROPERTIES
                     FIXTURES_REQUIRED steps0 SKIP_RETURN_CODE 77)

# A short run lowers the loss: 3 epochs of the tiny net on 2 ranks.
add_test(NAME train_lowers_loss
         COMMAND sh -c "\"$0\" \"$@\" > ${RUNS}/lowers.log && ${CMAKE_CURRENT_SOURCE_DIR}/check_loss.sh ${RUNS}/lowers.log"
                 ${INNA_MPIRUN} -np 2 $<TARGET_FILE:inna> ${TINY}
                 --set run.out=${RUNS}/lowers --set train.epochs=3 --set train.steps=-1)
set_tests_properties(train_lowers_loss PROPERTIES ENVIRONMENT "${TRAIN_ENV}")

# Bad input of every kind: exit 2, one line naming the key or file, nothing written.
add_test(NAME cli_errors
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli_errors.sh $<TARGET_FILE:inna> ${TINY}
                 ${CMAKE_CURRENT_BINARY_DIR}/cli_errors)
add_test(NAME cli_errors_np2
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli_errors.sh $<TARGET_FILE:inna> ${TINY}
                 ${CMAKE_CURRENT_BINARY_DIR}/cli_errors_np2 ${INNA_MPIRUN} -np 2)
set_tests_properties(cli_errors cli_errors_np2 PROPERTIES ENVIRONMENT "${TRAIN_ENV}")

# CIFAR-10 in both file layouts the README names; neither: refused naming data.dir.
add_test(NAME cifar10_file_layouts
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cifar_files.sh $<TARGET_FILE:inna> ${TINY}
                 ${CMAKE_CURRENT_BINARY_DIR}/cifar_files)
set_tests_properties(cifar10_file_layouts PROPERTIES ENVIRONMENT "${TRAIN_ENV}")

# INNA with gamma_0 > beta overshoots: the run says so at start.
add_test(NAME warn_lr_above_beta
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/expect_output.sh "^warning: optim\\.lr = 0\\.5 > optim\\.beta = 0\\.2" --
                 $<TARGET_FILE:inna> ${TINY} --set run.out=${RUNS}/warn --set train.steps=0
                 --set optim.lr=0.5 --set optim.beta=0.2)
# INNA with alpha = 0 runs (outside the paper's theory) and says so.
add_test(NAME warn_alpha_zero
         COMMAND sh -c "mkdir -p ${RUNS} && \"$0\" \"$@\" > ${RUNS}/alpha0.log 2>&1 && grep -q \"warning: optim.alpha = 0: the paper's convergence results assume alpha > 0\" ${RUNS}/alpha0.log"
                 $<TARGET_FILE:inna> ${TINY} --set run.out=${RUNS}/alpha0 --set train.steps=2
                 --set optim.alpha=0)
# A log shows progress between epochs (tests/log_lines.sh).
add_test(NAME log_progress_lines
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/log_lines.sh $<TARGET_FILE:inna> ${TINY} ${RUNS}/log_lines)
set_tests_properties(warn_alpha_zero log_progress_lines PROPERTIES ENVIRONMENT "${TRAIN_ENV}")
# --help lists the options and every config key with its default.
# --help lists every key, and the keys a resume may change (which
# src/python/inna_study.py reads from it).
add_test(NAME help_lists_keys
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/expect_output.sh "^  optim\\.beta = 0\\.1 "
                 "^  keys a resume may change: run\\.out run\\.threads " "^    .*checkpoint\\.keep train\\.epochs train\\.steps "
                 -- $<TARGET_FILE:inna> --help)

# A rank whose parameters drift is caught: rank 1 is perturbed after step 3
# (test hook), the check after that step stops the job naming step and ranks.
add_test(NAME rank_disagreement_detected
         COMMAND sh -c "INNA_TEST_PERTURB=1:3 \"$0\" \"$@\" 2> ${RUNS}/disagree.err; rc=$?; cat ${RUNS}/disagree.err; test $rc -ne 0 && grep -q 'ranks disagree after step 3: .* on rank 1' ${RUNS}/disagree.err && test ! -e ${RUNS}/disagree/model.h5"
                 ${INNA_MPIRUN} -np 2 $<TARGET_FILE:inna> ${TINY} --set run.out=${RUNS}/disagree
                 --set train.steps=6 --set run.check_every=1)
set_tests_properties(rank_disagreement_detected PROPERTIES ENVIRONMENT "${TRAIN_ENV}")

# Divergence: a non-finite loss stops the run with exit status 3, a message
# naming the step and the hyper-parameters, no model file, and the last good
# checkpoint (written every step here) kept and loadable.
add_test(NAME diverged_run_stops
         COMMAND sh -c "rm -rf ${RUNS}/diverged; \"$0\" \"$@\" 2> ${RUNS}/diverged.err; rc=$?; cat ${RUNS}/diverged.err; test $rc -eq 3 && grep -q 'diverged at step [0-9]*: .*(optim sgd, lr 1e+12, ' ${RUNS}/diverged.err && test ! -e ${RUNS}/diverged/model.h5 && test -e ${RUNS}/diverged/latest.h5 && \"$0\" --resume ${RUNS}/diverged --set train.steps=0 > /dev/null"
                 $<TARGET_FILE:inna> ${TINY} --set run.out=${RUNS}/diverged --set train.steps=5
                 --set optim.name=sgd --set optim.lr=1e12 --set checkpoint.every=1
                 --set checkpoint.initial=true)

# Checkpoints and resume for real: split runs across rank counts, SIGTERM to
# mpirun, SIGKILL of a rank, refused resumes (tests/resume.sh); a full disk
# (its part 5: skipped where no tmpfs can be mounted, i.e. not as root).
add_test(NAME resume_kill_signal_refusals
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/resume.sh $<TARGET_FILE:inna> ${TINY}
                 ${RUNS}/resume ${INNA_MPIRUN})
set_tests_properties(resume_kill_signal_refusals PROPERTIES ENVIRONMENT "${TRAIN_ENV}" TIMEOUT 600)
add_test(NAME resume_full_disk
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/resume.sh $<TARGET_FILE:inna> ${TINY}
                 ${RUNS}/resume_full ${INNA_MPIRUN})
set_tests_properties(resume_full_disk PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
                     ENVIRONMENT "${TRAIN_ENV};INNA_RESUME_PARTS=fulldisk")
# Its part 1 (N steps on 2 ranks + resume on 3 = N + M straight) on each engine.
foreach(engine ${INNA_ENGINES})
  add_test(NAME resume_cross_ranks_${engine}
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/resume.sh $<TARGET_FILE:inna> ${TINY}
                   ${RUNS}/resume_${engine} ${INNA_MPIRUN})
  set_tests_properties(resume_cross_ranks_${engine} PROPERTIES TIMEOUT 300
                       ENVIRONMENT "${TRAIN_ENV};INNA_ENGINE=${engine};INNA_RESUME_PARTS=split")
endforeach()

# Every test above writes under ${RUNS}: they all start after runs_clean.
get_property(_train_tests DIRECTORY PROPERTY TESTS)
foreach(_t ${_train_tests})
  if(NOT _t STREQUAL "runs_clean")
    get_test_property(${_t} FIXTURES_REQUIRED _req)
    if(NOT _req)
      set(_req "")
    endif()
    set_tests_properties(${_t} PROPERTIES FIXTURES_REQUIRED "${_req};runs_clean")
  endif()
endforeach()
