# launch/study.sh (src/python/inna_study.py) on configs/studies/tiny.ini: the
# study killed and rerun to the end, each run completed once, the winners,
# the hashes of the final runs against the same runs alone (study_resume);
# bad study files refused before anything runs (study_errors); one study
# command per study folder (study_lock); every shipped study file expands and
# passes inna --check (study_files); plot_runs.py --label (study_plot_label).
# Without a Python with h5py and matplotlib they are skipped (77).
set(_study_dir ${CMAKE_CURRENT_BINARY_DIR}/study)
set(_study_env OMP_WAIT_POLICY=passive)
if(INNA_PYTHON)
  foreach(name resume errors lock)
    set(_script ${CMAKE_CURRENT_SOURCE_DIR}/study_${name}.sh)
    if(name STREQUAL "resume")
      set(_script ${CMAKE_CURRENT_SOURCE_DIR}/study.sh)
    endif()
    add_test(NAME study_${name}
             COMMAND ${_script} $<TARGET_FILE:inna> ${_study_dir}/${name} ${INNA_PYTHON})
    set_tests_properties(study_${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                         ENVIRONMENT "${_study_env}")
  endforeach()
  add_test(NAME study_files
           COMMAND ${INNA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/study_files.py $<TARGET_FILE:inna>
                   ${PROJECT_SOURCE_DIR} ${_study_dir}/files)
  set_tests_properties(study_files PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
  # --label FOLDER=TEXT names the group of that run (the fake runs of plot_runs_png).
  add_test(NAME study_plot_label
           COMMAND sh -c "set -e; d=\"$1\"; \"$0\" \"$d/inna-s1\" \"$d/inna-s2\" \"$d/sgd\" --label \"$d/inna-s2=INNA best\" -o \"$d/label.png\" > \"$d/label.txt\"
                          cat \"$d/label.txt\"
                          grep -qx 'INNA best: 2 runs, 5 epochs' \"$d/label.txt\"
                          grep -qx 'sgd lr=0.01: 1 run, 5 epochs' \"$d/label.txt\"
                          test -s \"$d/label.png\"
                          if \"$0\" \"$d/sgd\" --label nolabel -o \"$d/bad.png\" 2> \"$d/bad.txt\"; then exit 1; fi
                          cat \"$d/bad.txt\"; test $(wc -l < \"$d/bad.txt\") -eq 1 && grep -q 'not FOLDER=TEXT' \"$d/bad.txt\""
                   ${PROJECT_SOURCE_DIR}/results/plot_runs.sh ${CMAKE_CURRENT_BINARY_DIR}/plot_runs)
  set_tests_properties(study_plot_label PROPERTIES FIXTURES_REQUIRED plot_runs)
else()
  foreach(name study_resume study_errors study_lock study_files study_plot_label)
    add_test(NAME ${name}
             COMMAND sh -c "echo '${name}: skipped: no Python with h5py and matplotlib (set INNA_PYTHON)'; exit 77")
    set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
endif()
unset(_study_dir)
unset(_study_env)
