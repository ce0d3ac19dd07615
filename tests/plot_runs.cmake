# results/plot_runs.sh on fake runs (tests/fake_runs.py): two INNA runs that
# differ only in seed form one group, a third INNA run (other alpha) and an
# SGD run (config in a checkpoint) are groups of their own; the PNG must be a
# PNG of some size.  A missing run file is refused: one line, exit status 2,
# no PNG.
set(_plot_dir ${CMAKE_CURRENT_BINARY_DIR}/plot_runs)
set(_plot_sh ${PROJECT_SOURCE_DIR}/results/plot_runs.sh)
if(INNA_PYTHON)
  add_test(NAME plot_runs_png
           COMMAND sh -c "set -e; rm -rf \"$3\"; mkdir -p \"$3\"; \"$0\" \"$1\" \"$3\"
                          \"$2\" \"$3/inna-s1\" \"$3/inna-s2/metrics.h5\" \"$3/inna-a1\" \"$3/sgd\" -o \"$3/plot.png\" --title 'fake runs' > \"$3/out.txt\"
                          cat \"$3/out.txt\"
                          grep -qx 'inna lr=0.02 alpha=0.5: 2 runs, 5 epochs' \"$3/out.txt\"
                          grep -qx 'inna lr=0.02 alpha=1: 1 run, 5 epochs' \"$3/out.txt\"
                          grep -qx 'sgd lr=0.01: 1 run, 5 epochs' \"$3/out.txt\"
                          test \"$(head -c 8 \"$3/plot.png\" | od -An -tx1 | tr -d ' ')\" = 89504e470d0a1a0a
                          size=$(wc -c < \"$3/plot.png\"); echo \"plot.png: $size bytes\"; test \"$size\" -gt 20000"
                   ${INNA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/fake_runs.py ${_plot_sh} ${_plot_dir})
  add_test(NAME plot_runs_missing_file
           COMMAND sh -c "rm -f \"$1/missing.png\"; \"$0\" \"$1/no-such-run/metrics.h5\" -o \"$1/missing.png\" 2> \"$1/err.txt\"; rc=$?
                          cat \"$1/err.txt\"
                          test $rc -eq 2 && test $(wc -l < \"$1/err.txt\") -eq 1 && grep -q 'no-such-run/metrics.h5: no such file' \"$1/err.txt\" && test ! -e \"$1/missing.png\""
                   ${_plot_sh} ${_plot_dir})
  set_tests_properties(plot_runs_missing_file PROPERTIES FIXTURES_REQUIRED plot_runs)
  set_tests_properties(plot_runs_png PROPERTIES FIXTURES_SETUP plot_runs)
else()
  foreach(name plot_runs_png plot_runs_missing_file)
    add_test(NAME ${name}
             COMMAND sh -c "echo '${name}: skipped: no Python with h5py and matplotlib (set INNA_PYTHON)'; exit 77")
    set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
endif()
unset(_plot_dir)
unset(_plot_sh)
