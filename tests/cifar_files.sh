#!/usr/bin/env bash
# cifar_files.sh INNA CONFIG WORKDIR: CIFAR-10 is taken in both forms the
# README names -- data_batch_1..5.bin + test_batch.bin, and train.bin +
# test.bin -- and a folder with neither is refused: exit 2, one line naming
# data.dir and both forms.  The files are written here in the real format
# (a label byte, then 3,072 pixel bytes), with record counts that tell the
# forms apart.
source "$(dirname "$0")/lib.sh"
inna=$1 config=$2 work=$3
fresh "$work" && mkdir -p "$work"/{batches,packed,empty}
# records N LABEL: N CIFAR-10 records of that label and grey pixels.
records() { for _ in $(seq "$1"); do printf "\\x0$2"; head -c 3072 /dev/zero | tr '\0' '\200'; done; }
for i in 1 2 3 4 5; do records 4 $((i % 10)) > "$work/batches/data_batch_$i.bin"; done
records 6 1 > "$work/batches/test_batch.bin"
records 12 2 > "$work/packed/train.bin"
records 7 3 > "$work/packed/test.bin"
run() {
  "$inna" "$config" --set data.format=cifar10 --set data.dir="$work/$1" --set net.input=3x32x32 \
    --set train.steps=1 --set train.batch=4 --set dist.chunk=4 --set run.out="$work/run-$1" \
    > "$work/$1.out" 2> "$work/$1.err"
}
# form NAME TRAIN TEST: the run works and reads that many samples.
form() {
  if ! run "$1"; then fail "$1: $(cat "$work/$1.err")"
  elif ! grep -q "^data: $2 training, $3 test samples" "$work/$1.out"
  then fail "$1: expected $2 training and $3 test samples: $(grep '^data:' "$work/$1.out")"
  else echo "ok   $1: $(grep '^data:' "$work/$1.out")"; fi
}
form batches 20 6
form packed 12 7
run empty
rc=$?
if [ $rc != 2 ]; then fail "empty folder: exit $rc, expected 2"
elif [ "$(grep -c '^inna' "$work/empty.err")" != 1 ] ||
     ! grep -q "data.dir: $work/empty holds neither data_batch_1.bin .* nor train.bin, test.bin" "$work/empty.err"
then fail "empty folder: $(cat "$work/empty.err")"
elif [ -e "$work/run-empty" ]; then fail "empty folder: a run folder was created"
else echo "ok   empty: $(cat "$work/empty.err")"; fi
finish
