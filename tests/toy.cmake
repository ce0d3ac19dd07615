# inna-toy smoke tests (the convergence assertions live in test_toy.c).
# 1000 iterations recorded every 10th: k = 0, 10, ..., 1000 is 101 rows per
# setting, 3 settings, plus the header line = 304 lines.
set(_toy_csv ${CMAKE_CURRENT_BINARY_DIR}/toy_smoke.csv)
add_test(NAME toy_csv_rows
         COMMAND sh -c "rm -f \"$1\" && \"$0\" --iterations 1000 --every 10 --out \"$1\" && n=$(wc -l < \"$1\") && echo \"rows: $n\" && test \"$n\" -eq 304"
                 $<TARGET_FILE:inna-toy> ${_toy_csv})
# Usage errors exit with status 2 and one line on stderr.
add_test(NAME toy_usage_error
         COMMAND sh -c "\"$0\" --iterations zero 2>toy_usage_err.txt; rc=$?; cat toy_usage_err.txt; test $rc -eq 2 && test $(wc -l < toy_usage_err.txt) -eq 1"
                 $<TARGET_FILE:inna-toy>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
