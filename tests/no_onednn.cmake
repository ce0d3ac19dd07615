# A build where oneDNN is missing: configured, built and run apart
# (tests/no_onednn.sh).
add_test(NAME build_without_onednn
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/no_onednn.sh ${PROJECT_SOURCE_DIR}
                 ${PROJECT_SOURCE_DIR}/configs/tiny.ini ${CMAKE_CURRENT_BINARY_DIR}/runs/no_onednn ${CMAKE_COMMAND})
set_tests_properties(build_without_onednn PROPERTIES TIMEOUT 600)
