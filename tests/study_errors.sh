#!/usr/bin/env bash
# study_errors.sh INNA WORKDIR PYTHON
# Bad study files and options for launch/study.sh: each is refused before
# anything runs -- exit status 2, one line on stderr that starts "study: " and
# names the study file and the key, no study folder created.  With --slurm
# the same, before anything is submitted (no SLURM needed: nothing reaches
# sbatch); and without sbatch on PATH, one line saying so, exit 2.
source "$(dirname "$0")/lib.sh"
inna=$1 work=$2 py=$3
root=$(cd "$(dirname "$0")/.." && pwd)
need_python "$py"
fresh "$work"

# study NAME BODY: $work/NAME.ini, a valid [study] section and BODY after it.
study() {
  printf '[study]\nbase = %s\nsearch_epochs = 1\nfinal_epochs = 1\nseeds = 1, 2\nselect_key = optim.lr\n%s\n' \
    "$root/configs/tiny.ini" "$2" > "$work/$1.ini"
}
# refused NAME WORDS [--set K=V...]: NAME.ini is refused, one line naming NAME.ini and each of WORDS.
refused() {
  local name=$1 words=$2; shift 2
  rm -rf "$work/out"
  "$root/launch/study.sh" "$work/$name.ini" --inna "$inna" --np 1 --out "$work/out" "$@" \
    > "$work/$name.out" 2> "$work/$name.err"
  local rc=$? err
  err=$(cat "$work/$name.err")
  local ok=1
  [ "$rc" = 2 ] || ok=0
  [ "$(wc -l < "$work/$name.err")" = 1 ] || ok=0
  [[ $err == "study: "*"$name.ini"* ]] || ok=0
  for w in $words; do [[ $err == *"$w"* ]] || ok=0; done
  [ ! -e "$work/out" ] || ok=0
  [ ! -s "$work/$name.out" ] || ok=0
  if [ $ok = 1 ]; then echo "ok   $name: $err"
  else fail "$name: exit $rc, stderr '$err', stdout '$(head -c 200 "$work/$name.out")', out folder $(ls -d "$work/out" 2>/dev/null || echo absent)"; fi
}

study unknown_key $'colour = red\n[arm a]\noptim.lr = 0.1, 0.2'
refused unknown_key "colour"
study empty_list $'[arm a]\noptim.lr = 0.1, 0.2\noptim.alpha ='
refused empty_list "optim.alpha empty"
study empty_value $'[arm a]\noptim.lr = 0.1, , 0.2'
refused empty_value "optim.lr empty"
study empty_seeds $'[arm a]\noptim.lr = 0.1, 0.2'
sed -i 's/^seeds = .*/seeds =/' "$work/empty_seeds.ini"
refused empty_seeds "seeds empty"
study not_config_key $'[arm a]\noptim.lr = 0.1, 0.2\noptim.gamma = 1, 2'
refused not_config_key "optim.gamma"
study not_config_key_set $'[set]\ndata.limit = 5\n[arm a]\noptim.lr = 0.1, 0.2'
refused not_config_key_set "data.limit"
study invalid_point $'[arm a]\noptim.lr = 0.1, -0.5'
refused invalid_point "optim.lr -0.5"
study invalid_pair $'[arm a]\noptim.lr = 0.1\noptim.alpha,optim.beta = 0.5:0.1, 0.5:-1'
refused invalid_pair "optim.beta"
study bad_pair $'[arm a]\noptim.lr = 0.1\noptim.alpha,optim.beta = 0.5:0.1, 0.5'
refused bad_pair "optim.alpha,optim.beta"
study reserved $'[arm a]\noptim.lr = 0.1, 0.2\ntrain.epochs = 3'
refused reserved "train.epochs"
study set_and_arm $'[set]\noptim.lr = 0.1\n[arm a]\noptim.lr = 0.1, 0.2'
refused set_and_arm "optim.lr"
study bad_metric $'metric = accuracy\n[arm a]\noptim.lr = 0.1, 0.2'
refused bad_metric "metric accuracy"
study bad_select $'[arm a]\noptim.q = 0.1, 0.2'
refused bad_select "select_key optim.lr"
study no_arm ''
refused no_arm "arm"
study unknown_section $'[arms a]\noptim.lr = 0.1'
refused unknown_section "arms a"
study cli_set $'[arm a]\noptim.lr = 0.1, 0.2'
refused cli_set "--set optim.lrate" --set optim.lrate=3
refused cli_set "--set optim.lr" --set optim.lr=3
refused cli_set "data.train_limit" --set data.train_limit=-4
refused invalid_point "optim.lr -0.5" --slurm
refused unknown_key "colour" --slurm -- --time=1

# A study folder whose runs were made with another config: a key a resume may
# not change (train.batch) is refused naming the folder and the key; one it
# may change (run.check_every, as inna --help lists them) is not.
study changed $'[arm a]\noptim.lr = 0.1'
rm -rf "$work/changed"
small=(--set data.train_limit=64 --set data.test_limit=64)
if "$root/launch/study.sh" "$work/changed.ini" --inna "$inna" --np 1 --out "$work/changed" "${small[@]}" \
     > "$work/changed1.out" 2>&1; then
  "$root/launch/study.sh" "$work/changed.ini" --inna "$inna" --np 1 --out "$work/changed" "${small[@]}" \
    --set train.batch=16 > "$work/changed2.out" 2> "$work/changed2.err"
  rc=$?
  if [ "$rc" = 2 ] && [ "$(wc -l < "$work/changed2.err")" = 1 ] &&
     grep -q "^study: $work/changed/.*holds a run with train.batch = '8'" "$work/changed2.err"; then
    echo "ok   changed key: $(cat "$work/changed2.err")"
  else
    fail "changed key: exit $rc, stderr '$(cat "$work/changed2.err")'"
  fi
  "$root/launch/study.sh" "$work/changed.ini" --inna "$inna" --np 1 --out "$work/changed" "${small[@]}" \
    --set run.check_every=7 > "$work/changed3.out" 2>&1 \
    && echo "ok   a key a resume may change (run.check_every) is not refused" \
    || fail "run.check_every refused: $(tail -2 "$work/changed3.out")"
else
  fail "changed: the first study did not run: $(tail -3 "$work/changed1.out")"
fi

# --slurm where sbatch is not installed: PATH's programs (inna's MPI needs
# orted) as links in one folder, without sbatch.
mkdir -p "$work/bin"
IFS=: read -ra dirs <<< "$PATH"
for d in "${dirs[@]}"; do
  for c in "$d"/*; do
    [ "${c##*/}" = sbatch ] || [ -e "$work/bin/${c##*/}" ] || ln -s "$c" "$work/bin/${c##*/}" 2>/dev/null
  done
done
study no_sbatch $'[arm a]\noptim.lr = 0.1, 0.2'
rm -rf "$work/out"
PATH=$work/bin "$root/launch/study.sh" --slurm "$work/no_sbatch.ini" --inna "$inna" --out "$work/out" \
  > "$work/no_sbatch.out" 2> "$work/no_sbatch.err"
rc=$?
if [ "$rc" = 2 ] && [ "$(wc -l < "$work/no_sbatch.err")" = 1 ] && grep -q '^study: --slurm: sbatch not found' "$work/no_sbatch.err" &&
   [ ! -e "$work/out" ] && [ ! -s "$work/no_sbatch.out" ]; then
  echo "ok   no sbatch: $(cat "$work/no_sbatch.err")"
else
  fail "no sbatch: exit $rc, stderr '$(cat "$work/no_sbatch.err")', out folder $(ls -d "$work/out" 2>/dev/null || echo absent)"
fi
finish
