# The oneDNN engine: its unit test skips (77) in a build without oneDNN.
set_tests_properties(test_onednn PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_WAIT_POLICY=passive")
# 20 training steps on each engine end at the same parameters within 1e-5
# (tests/engines_agree.sh says why that tolerance).
if("onednn" IN_LIST INNA_ENGINES)
  add_test(NAME engines_agree_20_steps
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/engines_agree.sh $<TARGET_FILE:inna>
                   ${PROJECT_SOURCE_DIR}/configs/tiny.ini ${CMAKE_CURRENT_BINARY_DIR}/runs_engines 1e-5)
  set_tests_properties(engines_agree_20_steps PROPERTIES SKIP_RETURN_CODE 77
                       ENVIRONMENT "OMP_WAIT_POLICY=passive")
endif()
