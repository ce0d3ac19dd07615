# model_h5_pytorch_layout: test_model_h5 writes its tiny model to a file, then
# tests/load_model.py reads it with nothing but h5py and numpy into a
# PyTorch-style state_dict and checks names, shapes and values.
if(TARGET test_model_h5)
  set(_model_h5_file ${CMAKE_CURRENT_BINARY_DIR}/model_h5_pytorch_layout.h5)
  if(INNA_PYTHON)
    add_test(NAME model_h5_pytorch_layout
             COMMAND sh -c "rm -f \"$3\" && \"$1\" \"$3\" && \"$2\" \"$4\" \"$3\""
                     model_h5_pytorch_layout
                     $<TARGET_FILE:test_model_h5> ${INNA_PYTHON} ${_model_h5_file}
                     ${CMAKE_CURRENT_SOURCE_DIR}/load_model.py)
  else()
    add_test(NAME model_h5_pytorch_layout
             COMMAND sh -c "echo 'model_h5_pytorch_layout: skipped: no Python with h5py (set INNA_PYTHON)'; exit 77")
    set_tests_properties(model_h5_pytorch_layout PROPERTIES SKIP_RETURN_CODE 77)
  endif()
  unset(_model_h5_file)
endif()
