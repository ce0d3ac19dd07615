#!/bin/sh
# bitwise.sh INNA CONFIG DIR MPIRUN...
# For each optimizer, 8 steps of the tiny net with dropout and augmentation
# on, batch 10 in 5 chunks of 2 (so 2, 3 and 4 ranks all split it unevenly),
# on 1, 2, 3 and 4 ranks with one thread each, and on 1 and 2 ranks with 2 and
# 3 threads each: the parameter hash printed at the end must be the same for
# every ranks x threads.  INNA_ENGINE=NAME: with run.engine = NAME;
# INNA_BITWISE_CHUNK=C: chunks of C (4: 4 + 4 + 2, a short last chunk, and a
# rank without a chunk on 4 ranks).  The layouts 2x1, 4x1 and 2x3 take the
# exact sum's other way (dist.gather: chunks gathered instead of summed or
# the reverse), which must give the same bits too.  Then the widest grid:
# optim.lr = 1000 makes the second step's gradient too large for the default
# grid (checked by hand on oneDNN: both ways redo it on the widest); 2 steps on 1 and 2
# ranks, gathered and summed, must agree.
set -u
chunk=${INNA_BITWISE_CHUNK:-2}
inna=$1 config=$2 dir=$3
nchunks=$(( (10 + chunk - 1) / chunk ))
# The default dist.gather, from inna --help: B_k of at most that many chunks is gathered.
gather=$("$inna" --help | sed -n 's/^  dist\.gather = \([0-9]*\) .*/\1/p')
[ -n "$gather" ] || { echo "FAIL: inna --help shows no dist.gather default"; exit 1; }
if [ "$nchunks" -le "$gather" ]; then other=0 default_way=gathered other_way=summed
else other=$nchunks default_way=summed other_way=gathered; fi
# way_of OUTPUT: which way the run took, from inna's start line.
way_of() { case "$1" in *"floats gathered (dist.gather)"*) echo gathered ;; *) echo summed ;; esac; }
shift 3
mkdir -p "$dir" || exit 1
status=0
for opt in "inna" "sgd --set optim.momentum=0.9 --set optim.nesterov=true" "adam" "adagrad"; do
    name=${opt%% *}
    ref=""
    for layout in 1x1 2x1 3x1 4x1 1x2 2x3; do
        np=${layout%x*} threads=${layout#*x}
        case $layout in 2x1|4x1|2x3) way="--set dist.gather=$other" want=$other_way ;;
                        *) way="" want=$default_way ;; esac
        # shellcheck disable=SC2086  # $opt carries several words on purpose
        out=$("$@" -np $np "$inna" "$config" --set optim.name=$opt --set run.out="$dir/$name$layout" \
              --set train.steps=8 --set train.batch=10 --set dist.chunk=$chunk --set net.dropout=0.3 \
              --set data.augment=true --set run.check_every=1 --set run.threads=$threads $way \
              ${INNA_ENGINE:+--set run.engine=$INNA_ENGINE} 2>&1)
        hash=$(printf '%s\n' "$out" | sed -n 's/^parameters: crc32 \([0-9a-f]*\) after 8 steps$/\1/p')
        if [ -z "$hash" ]; then
            printf '%s\n' "$out"; echo "FAIL: $name $layout printed no parameter hash"; status=1; continue
        fi
        echo "$name ranks x threads $layout${way:+ ($way)}: $hash"
        [ "$(way_of "$out")" = "$want" ] || { echo "FAIL: $name $layout: the exact sum was not $want"; status=1; }
        [ -z "$ref" ] && ref=$hash
        [ "$hash" = "$ref" ] || { echo "FAIL: $name $layout differs from 1x1"; status=1; }
    done
done
ref=""
for run in "1 4" "1 0" "2 4" "2 0"; do
    np=${run% *} gather=${run#* }
    out=$("$@" -np $np "$inna" "$config" --set run.out="$dir/widest$np-$gather" --set train.steps=2 \
          --set train.batch=16 --set optim.lr=1000 --set dist.gather=$gather --set run.check_every=1 \
          ${INNA_ENGINE:+--set run.engine=$INNA_ENGINE} 2>&1)
    hash=$(printf '%s\n' "$out" | sed -n 's/^parameters: crc32 \([0-9a-f]*\) after 2 steps$/\1/p')
    if [ -z "$hash" ]; then
        printf '%s\n' "$out"; echo "FAIL: widest grid, $np rank(s), dist.gather=$gather: no parameter hash"
        status=1; continue
    fi
    echo "widest grid, $np rank(s), dist.gather=$gather: $hash"
    if [ "$gather" = 0 ]; then want=summed; else want=gathered; fi
    [ "$(way_of "$out")" = "$want" ] || { echo "FAIL: widest grid, dist.gather=$gather: not $want"; status=1; }
    [ -z "$ref" ] && ref=$hash
    [ "$hash" = "$ref" ] || { echo "FAIL: widest grid, $np rank(s), dist.gather=$gather differs"; status=1; }
done
exit $status
