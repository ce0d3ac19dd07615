#!/bin/sh
# check_loss.sh LOG: the last epoch's training loss is at least 10 % below the
# first epoch's, and the last test accuracy is above 30 % (10 classes: chance is 10 %).
set -eu
first=$(grep '^epoch 1 ' "$1" | sed 's/.*train loss \([0-9.]*\).*/\1/')
last=$(grep '^epoch ' "$1" | tail -n 1 | sed 's/.*train loss \([0-9.]*\).*/\1/')
acc=$(grep '^epoch ' "$1" | tail -n 1 | sed 's/.*test loss [0-9.]* acc \([0-9.]*\)%.*/\1/')
echo "train loss: first epoch $first, last epoch $last; last test accuracy $acc%"
awk -v f="$first" -v l="$last" -v a="$acc" 'BEGIN { exit !(f != "" && l < 0.9 * f && a > 30) }'
