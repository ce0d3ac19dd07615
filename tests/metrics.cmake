# Readers of a metrics file that test_metrics --hold still has open for
# writing (1,500 step rows, epoch rows at steps 800 and 1200): h5py, plain and
# with swmr=True, checking layout and values (tests/read_metrics.py), and
# h5dump, which must see the 9 step columns at 1,500 rows.
if(TARGET test_metrics)
  set(_metrics_dir ${CMAKE_CURRENT_BINARY_DIR})
  if(INNA_PYTHON)
    add_test(NAME metrics_h5py_while_writing
             COMMAND test_metrics --hold ${_metrics_dir}/metrics_h5py.h5
                     ${INNA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/read_metrics.py
                     ${_metrics_dir}/metrics_h5py.h5 1500 800,1200)
  else()
    add_test(NAME metrics_h5py_while_writing
             COMMAND sh -c "echo 'metrics_h5py_while_writing: skipped: no Python with h5py (set INNA_PYTHON)'; exit 77")
    set_tests_properties(metrics_h5py_while_writing PROPERTIES SKIP_RETURN_CODE 77)
  endif()
  find_program(INNA_H5DUMP h5dump)
  if(INNA_H5DUMP)
    add_test(NAME metrics_h5dump_while_writing
             COMMAND test_metrics --hold ${_metrics_dir}/metrics_h5dump.h5
                     sh -c "n=$(\"$0\" -H \"$1\" | grep -c '( 1500 ) / ( H5S_UNLIMITED )'); echo \"columns of 1500 rows: $n\"; test \"$n\" -eq 9"
                     ${INNA_H5DUMP} ${_metrics_dir}/metrics_h5dump.h5)
  else()
    add_test(NAME metrics_h5dump_while_writing
             COMMAND sh -c "echo 'metrics_h5dump_while_writing: skipped: no h5dump'; exit 77")
    set_tests_properties(metrics_h5dump_while_writing PROPERTIES SKIP_RETURN_CODE 77)
  endif()
  unset(_metrics_dir)
endif()
