# torch_model: "model.h5 loads in PyTorch".  tests/torch_model.py trains short
# runs with inna (tiny.ini on Fashion-MNIST, a net of pooling edge cases,
# synthetic CIFAR-10/100 files), evaluates each model.h5 with
# src/python/inna_torch.py and requires inna's own final test loss (1e-4
# relative) and accuracy (0.05 points).  Needs a Python with torch and h5py
# (Debian: python3-torch python3-h5py); without one the test is skipped (77).
set(INNA_TORCH_PYTHON "" CACHE STRING "Python interpreter with torch and h5py (torch_model test)")
set(_torch_py ${INNA_TORCH_PYTHON})
inna_find_python(_torch_py "import torch, h5py, numpy")
message(STATUS "Python with torch for the torch_model test: ${_torch_py}")

if(_torch_py)
  add_test(NAME torch_model
           COMMAND ${_torch_py} ${CMAKE_CURRENT_SOURCE_DIR}/torch_model.py $<TARGET_FILE:inna>
                   ${PROJECT_SOURCE_DIR}/configs/tiny.ini ${CMAKE_CURRENT_BINARY_DIR}/torch_model)
else()
  add_test(NAME torch_model
           COMMAND sh -c "echo 'torch_model: skipped: no Python with torch and h5py (install python3-torch python3-h5py, or set INNA_TORCH_PYTHON)'; exit 77")
endif()
set_tests_properties(torch_model PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_WAIT_POLICY=passive")
unset(_torch_py)
