# inna-bench smoke tests (no timed assertions): the real step on 2 ranks on
# configs/tiny.ini prints one BENCH record per reduction with img_s > 0, the
# share of communication hidden in [0, 1] and the figures that follow from
# the config alone, worked out by hand here: tiny.ini's convolutions hold
# 8*1*9+8 = 80, 6*8+6 = 54, 12*6*9+12 = 660 and 10*12+10 = 130 parameters,
# P = 924 (layer_params lists them in the order they are reduced: last
# layer first); a step reduces P + 2 metrics slots: exact, batch 32 in 4
# chunks of 8 (tiny.ini's dist.chunk), at most dist.gather = 8 chunks, so the
# chunks' floats are gathered with 1 flag each: 4 * 4 * 927 = 14832 bytes
# (summed, it would be 16 * 928 with 2 flags); fast 4 * 926 = 3704.  And a
# COMPARE record;
# the allreduce sweep prints ALLREDUCE records.
set(BENCH_LOG ${CMAKE_CURRENT_BINARY_DIR}/bench_smoke.log)
add_test(NAME bench_smoke_np2
         COMMAND sh -c "\"$0\" \"$@\" > ${BENCH_LOG} 2>&1 || { cat ${BENCH_LOG}; exit 1; }
awk '
  function val(key,   i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, \"=\"); if (kv[1] == key) return kv[2] } return \"\" }
  /^BENCH / { n++; red = val(\"reduction\"); r[red] = 1
              if (val(\"np\") != 2 || !(val(\"img_s\") + 0 > 0) || val(\"hidden\") == \"\" ||
                  val(\"hidden\") + 0 < 0 || val(\"hidden\") + 0 > 1 || !(val(\"step_s\") + 0 > 0) ||
                  !(val(\"floor_mib\") + 0 > 0)) { print \"bad BENCH line: \" $0; bad = 1 }
              if (val(\"nparams\") != 924 || val(\"layer_params\") != \"130,660,54,80\" ||
                  val(\"batch\") != 32 || val(\"steps\") != 2 ||
                  val(\"msg_bytes\") != (red == \"exact\" ? 14832 : 3704)) {
                print \"BENCH line: nparams, layer_params, batch, steps or msg_bytes differ from those of tiny.ini (924; 130,660,54,80; 32; 2; 14832 exact, 3704 fast): \" $0; bad = 1 } }
  /^COMPARE / { c++; if (!(val(\"ratio\") + 0 > 0)) { print \"bad COMPARE line: \" $0; bad = 1 } }
  END { if (n != 2 || !r[\"exact\"] || !r[\"fast\"] || c != 1) { print \"expected 2 BENCH lines (exact, fast) and 1 COMPARE line, got \" n \" and \" c; bad = 1 }
        exit bad }' ${BENCH_LOG} || { cat ${BENCH_LOG}; exit 1; }"
                 ${INNA_MPIRUN} -np 2 $<TARGET_FILE:inna-bench> -c ${PROJECT_SOURCE_DIR}/configs/tiny.ini
                 --steps 2 --warmup 1 --batch 32)
set_tests_properties(bench_smoke_np2 PROPERTIES ENVIRONMENT OPENBLAS_NUM_THREADS=1)

add_test(NAME bench_allreduce_sweep_np2
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/expect_output.sh "^ALLREDUCE np=2 .*type=fixed128 bytes=4096 "
                 "^ALLREDUCE np=2 .*type=float bytes=4096 " --
                 ${INNA_MPIRUN} -np 2 $<TARGET_FILE:inna-bench> --allreduce-sweep
                 --sweep-type fixed128,float --sweep-max 4096)
set_tests_properties(bench_allreduce_sweep_np2 PROPERTIES ENVIRONMENT OPENBLAS_NUM_THREADS=1)

# --layers: one row per layer of tiny.ini in order, with the output shapes the
# config gives (1x28x28 in; conv 8 size 3 pad 1: 8x28x28; maxpool 3/2 pad 1:
# 6x14x14; ... gap: 10x1x1), GFLOP/s only on convolutions, and the
# convolution rows' forward times adding up to the per-type table's conv row
# (each printed to 0.01 ms).
set(BENCH_LAYERS_LOG ${CMAKE_CURRENT_BINARY_DIR}/bench_layers.log)
add_test(NAME bench_layers_np2
         COMMAND sh -c "\"$0\" \"$@\" > ${BENCH_LAYERS_LOG} 2>&1 || { cat ${BENCH_LAYERS_LOG}; exit 1; }
awk '
  /^   conv  / && !typed { typed = 1; conv = $2 }
  /^   [0-9]+ +[a-z]+ +[0-9]+x[0-9]+x[0-9]+ / { n++; types = types \" \" $2; shapes[$1] = $3
      if ($2 == \"conv\") { sum += $4; if (!($6 + 0 > 0) || !($7 + 0 > 0)) { print \"no GFLOP/s on a conv row: \" $0; bad = 1 } }
      else if ($6 != \"-\" || $7 != \"-\") { print \"GFLOP/s on a row that is no conv: \" $0; bad = 1 } }
  END { want = \" conv relu conv relu maxpool dropout conv relu avgpool conv relu gap\"
        if (n != 12 || types != want) { print \"rows:\" types \" (\" n \"), expected\" want; bad = 1 }
        if (shapes[1] != \"8x28x28\" || shapes[5] != \"6x14x14\" || shapes[7] != \"12x7x7\" || shapes[12] != \"10x1x1\") {
            print \"output shapes 1, 5, 7, 12: \" shapes[1] \" \" shapes[5] \" \" shapes[7] \" \" shapes[12]; bad = 1 }
        d = sum - conv; if (d < 0) d = -d
        if (!typed || d > 0.03) { print \"conv rows add to \" sum \" ms, the conv row says \" conv; bad = 1 }
        exit bad }' ${BENCH_LAYERS_LOG} || { cat ${BENCH_LAYERS_LOG}; exit 1; }"
                 ${INNA_MPIRUN} -np 2 $<TARGET_FILE:inna-bench> -c ${PROJECT_SOURCE_DIR}/configs/tiny.ini
                 --steps 2 --warmup 1 --batch 32 --reduction exact --layers)
set_tests_properties(bench_layers_np2 PROPERTIES ENVIRONMENT OPENBLAS_NUM_THREADS=1)
