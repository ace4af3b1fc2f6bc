#!/usr/bin/env bash
# Builds the fuzz targets (Fuzz/, one per input surface) with libFuzzer and the address sanitizer, and runs
# each for a bounded time (make fuzz: 120 s each; make test: 20 s each):
#   scripts/fuzz.sh SECONDS [TARGET…]
# Prints, per target, the executions, the coverage at the end (libFuzzer's cov: edges and ft: features) and
# the findings, and fails when any target crashed (an invariant too), hung (an input running past 10 s), or
# allocated past the memory limits (one allocation over 256 MiB, or 2 GiB resident). A finding is saved under
# .build-fuzz/findings/TARGET/; `.build-fuzz/release/TARGET FILE` replays it. What the fuzzer learns
# accumulates in .build-fuzz/corpus/TARGET/; the seeds in Fuzz/corpus/TARGET/ are only read.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET…]}
shift

all=(fuzz-job-manifest fuzz-cluster-inventory fuzz-controller-frames fuzz-agent-frames fuzz-rank-reports
     fuzz-rendezvous fuzz-frame-header fuzz-api-bodies)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# The words each input's grammar is made of, so that mutations reach past the first field name.
dictionary() {
    case $1 in
        fuzz-job-manifest | fuzz-cluster-inventory) echo Fuzz/dictionaries/yaml.dict ;;
        fuzz-controller-frames | fuzz-agent-frames) echo Fuzz/dictionaries/agent-json.dict ;;
        fuzz-rank-reports) echo Fuzz/dictionaries/reports.dict ;;
        fuzz-rendezvous) echo Fuzz/dictionaries/rendezvous.dict ;;
        fuzz-api-bodies) echo Fuzz/dictionaries/api-json.dict ;;
    esac
}

# The targets exist only with RINGMASTER_FUZZ set (Package.swift). Release, for executions per second.
# `--sanitize fuzzer` makes SwiftPM link libFuzzer's main (instead of aliasing main to the target's own entry
# point); the sanitizers themselves are one -sanitize= flag because swiftc keeps only the last one it is given
# (`--sanitize fuzzer --sanitize address` compiles without coverage, and the fuzzer runs blind); C targets (Yams'
# libyaml) get coverage from --sanitize and ASan from -Xcc. The toolset links with lld: gold drops the coverage
# counters and cannot link the address sanitizer with --gc-sections.
scratch=.build-fuzz
build=(swift build --scratch-path "$scratch" -c release --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address
       -Xcc -fsanitize=address --toolset Fuzz/toolset.json)
started=$SECONDS
echo "==> building ${#targets[@]} fuzz targets (libFuzzer + address sanitizer) in $scratch"
mkdir -p "$scratch/logs"
for target in "${targets[@]}"; do
    if ! RINGMASTER_FUZZ=1 "${build[@]}" --product "$target" > "$scratch/logs/build-$target.log" 2>&1; then
        grep -v -E '^\[[0-9]+/[0-9]+\]' "$scratch/logs/build-$target.log" | tail -n 40
        echo "fuzz target $target did not build"
        exit 1
    fi
done
build_seconds=$((SECONDS - started))

# A finding is reported by libFuzzer and the sanitizer; Swift's own crash backtracer would only add noise
# (it reads the crashed thread's stack, which ASan reports as an error of its own).
export SWIFT_BACKTRACE=enable=no
failed=0
summary=()
for target in "${targets[@]}"; do
    corpus=$scratch/corpus/$target findings=$scratch/findings/$target log=$scratch/logs/$target.log
    mkdir -p "$corpus" "$findings" "$(dirname "$log")"
    dict=$(dictionary "$target")
    echo "==> $target for $seconds s"
    run_started=$SECONDS
    # The outer timeout only guards against the fuzzer itself not stopping; libFuzzer ends the run at
    # -max_total_time and reports a slow input at -timeout.
    timeout --kill-after=10 $((seconds + 120)) "$scratch/release/$target" "$corpus" "Fuzz/corpus/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -print_final_stats=1 \
        -artifact_prefix="$findings/" ${dict:+-dict="$dict"} > "$log" 2>&1
    status=$?
    took=$((SECONDS - run_started))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=$(sed -E -n 's/^#([0-9]+).*/\1/p' <<< "$last")
    cov=$(sed -E -n 's/.* cov: ([0-9]+).*/\1/p' <<< "$last")
    ft=$(sed -E -n 's/.* ft: ([0-9]+).*/\1/p' <<< "$last")
    units=$(sed -E -n 's/.* corp: ([0-9]+)\/.*/\1/p' <<< "$last")
    finding=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
    if [ "$status" -eq 0 ] && [ -z "$finding" ]; then
        verdict="no findings"
    else
        failed=1
        # The most telling line first: a Swift trap's message, then its kind, then the fuzzer's or the sanitizer's.
        kind=$(grep -o -m 1 -E 'Fatal error: .{0,100}' "$log" || grep -o -m 1 -E 'Swift runtime failure: [a-zA-Z0-9 -]+' "$log" \
            || grep -o -m 1 -E 'ERROR: (libFuzzer|AddressSanitizer): [a-z0-9 -]+' "$log")
        verdict="FOUND ${kind:-exit $status}: ${finding:-no input saved}"
        echo "---- $log (end)"
        grep -v -E '^#[0-9]+|^INFO:' "$log" | tail -n 60
        echo "----"
    fi
    line=$(printf '%-24s %10s runs  cov %5s  ft %6s  corpus %5s  %4s s  %s' \
        "$target" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${units:-?}" "$took" "$verdict")
    echo "$line"
    summary+=("$line")
done

echo
echo "==> fuzzing: build ${build_seconds} s, total $((SECONDS - started)) s"
printf '%s\n' "${summary[@]}"
exit $failed
