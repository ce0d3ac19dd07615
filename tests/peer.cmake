# inna-peak and launch/peer.sh smoke tests (no timed assertions): inna-peak
# prints a GFLOP/s figure per instruction set, plain and as CSV, positive and
# below what any x86 core can do (2 FMA units x 16 floats x 2 flops x 6 GHz
# = 384 GFLOP/s per thread: a miscounted loop or clock shows above it);
# usage errors of inna-peak and of peer.sh exit with status 2 and one line on
# stderr (peer.sh checks its arguments before it installs or builds anything).
add_test(NAME peak_smoke
         COMMAND sh -c "out=$(\"$0\" --seconds 0.2) || exit 1; echo \"$out\"
echo \"$out\" | awk '/^fma peak (avx512|avx2): [0-9.]+ GFLOP\\/s on [0-9]+ threads?/ { n++; if (!($4 + 0 > 0) || $4 / $7 >= 384) bad = 1 }
                    END { exit n < 1 || bad }'"
                 $<TARGET_FILE:inna-peak>)
add_test(NAME peak_csv
         COMMAND sh -c "out=$(\"$0\" --csv --seconds 0.05 --threads 1) || exit 1; echo \"$out\"
echo \"$out\" | awk -F, 'NR == 1 { ok = $0 == \"isa,threads,seconds,repeat,gflops,gflops_per_thread\"; next }
                        { n++; if ($2 != 1 || !($5 + 0 > 0) || $6 >= 384) ok = 0 } END { exit !(ok && n >= 1) }'"
                 $<TARGET_FILE:inna-peak>)
foreach(_args "--seconds;zero" "--threads;0" "--repeat;0" "--isa;sse" "--frobnicate")
  string(REPLACE ";" "_" _name "${_args}")
  string(REGEX REPLACE "^-+" "" _name "${_name}")
  add_test(NAME peak_usage_error_${_name}
           COMMAND sh -c "\"$0\" \"$@\" 2>peak_usage_err_${_name}.txt; rc=$?; cat peak_usage_err_${_name}.txt; test $rc -eq 2 && test $(wc -l < peak_usage_err_${_name}.txt) -eq 1"
                   $<TARGET_FILE:inna-peak> ${_args}
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endforeach()
foreach(_args "--rounds;0" "--np;two" "--reduction;slow" "--frobnicate" "no-such-config.ini")
  string(REPLACE ";" "_" _name "${_args}")
  string(REGEX REPLACE "^-+" "" _name "${_name}")
  string(REPLACE "." "_" _name "${_name}")
  add_test(NAME peer_usage_error_${_name}
           COMMAND sh -c "bash \"$0\" \"$@\" >peer_usage_out_${_name}.txt 2>peer_usage_err_${_name}.txt; rc=$?; cat peer_usage_out_${_name}.txt peer_usage_err_${_name}.txt; test $rc -eq 2 && test $(wc -l < peer_usage_err_${_name}.txt) -eq 1 && test ! -s peer_usage_out_${_name}.txt"
                   ${PROJECT_SOURCE_DIR}/launch/peer.sh ${_args}
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endforeach()
