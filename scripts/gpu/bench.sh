#!/usr/bin/env bash
# Runs on the GPU machine after shared/gpu/unpack (see docs/gpu.md): makes the benchmark models
# (random weights) and runs the GPU benchmarks of NOS, printing their tables. With more than one
# GPU, ManagerBench also measures replicas. Logs go to $OUT.
#
#   bash /root/gpu/scripts/gpu/bench.sh [all|probe|manager|batching|firstminute|soak|optim|optim-compile|optim-aoti|aoti-cl|overhead|compile-only|hub|aoti|streams|swap|scale|generate|whisper|rounds|trt|callers|vit|vitprofile|vitforward|callpath|aoti-autotune|stepprobe] [SECONDS]
# (soak is not part of all: SECONDS is its whole length; rounds takes a third argument)
# (vit takes VIT_SDP_ORDERS and VIT_SDP_BATCHES, vitforward VIT_FORWARD_BATCH, callpath
# CALLPATH_BATCH, vitprofile none: see their blocks; any takes NOS_CORE_JAR, below)
set -uo pipefail
g=/root/gpu
out=${OUT:-/tmp}
what=${1:-all}
seconds=${2:-15}
# A JVM that crashes leaves its hs_err file where it comes back ($OUT).
export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:-} -XX:ErrorFile=$out/hs_err_%p.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
[ "$what" = generate ] || [ "$what" = whisper ] || [ "$what" = callpath ] || [ -f /tmp/gpu-models/bert_base.pt ] || python3 "$g/scripts/models/make_gpu_models.py" /tmp/gpu-models >/dev/null 2>"$out/make-models.log" || { tail -20 "$out/make-models.log"; exit 1; }
cp="$(ls "$GPU_LIB"/*.jar | grep -v console-standalone | tr '\n' ':')"
# NOS_CORE_JAR=path: that nos-core jar instead of the packed one (an A/B of a nos-core change in
# one lease: pack the new code, carry the old jar beside it, run each bench twice).
if [ -n "${NOS_CORE_JAR:-}" ]; then
  cp="$(echo "$cp" | sed "s#[^:]*/nos-core-[0-9.]*-SNAPSHOT\.jar#$NOS_CORE_JAR#")"
  echo "bench.sh: nos-core from $NOS_CORE_JAR"
fi
jvm="timeout 280 java -Xmx16g -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp $cp"
if [ "$what" = all ] || [ "$what" = probe ]; then
  $jvm ai.nos.benchmarks.gpu.LeakProbe /tmp/gpu-models 2>&1 | tee "$out/leak-probe.log"
fi
if [ "$what" = all ] || [ "$what" = manager ]; then
  $jvm ai.nos.benchmarks.gpu.ManagerBench /tmp/gpu-models "$seconds" 2>&1 | tee "$out/manager-bench.log"
fi
if [ "$what" = all ] || [ "$what" = batching ]; then
  timeout 120 python3 "$g/scripts/gpu/torch_baseline.py" /tmp/gpu-models/resnet50.pt 2>&1 | tee "$out/torch-baseline.log"
  # BATCHING_OPTIMIZE=auto,cuda_graphs: every copy with those load-time steps (#20 item 2's
  # target is measured on NOS's best path); default: the plain fp16 file of earlier sessions.
  ${jvm/-cp/-Dnos.bench.optimize=${BATCHING_OPTIMIZE:-} -cp} ai.nos.benchmarks.gpu.BatchingBench /tmp/gpu-models "$seconds" 2>&1 | tee "$out/batching-bench.log"
fi
if [ "$what" = firstminute ]; then
  # Issue 15 item 12: 1 s windows for the first SECONDS (default 20) after `load` returns,
  # ResNet-50 fp16 auto, 256 clients, maxBatchSize 256, delay 5 ms: without preferred sizes, the
  # same reloaded, and with preferred sizes 32/64/128/256. The table is at the end of the log.
  # INFO: the "ready on ... warmed up in N ms" line of each copy. Three loads and 3 x 30 s of
  # clients need more than the usual 280 s.
  first_jvm=${jvm/timeout 280/timeout 560}
  ${first_jvm/defaultLogLevel=warn/defaultLogLevel=info} ai.nos.benchmarks.gpu.FirstSecondsBench /tmp/gpu-models "${2:-20}" > "$out/first-seconds.log" 2>&1
  rc=$?
  grep -E "^(FirstSecondsBench|\||Each cell|no preferred|preferred)|ready on|WARN|Exception" "$out/first-seconds.log" | tail -40
  [ $rc -eq 0 ] || echo "FirstSecondsBench exited with $rc; see $out/first-seconds.log"
fi
if [ "$what" = soak ]; then
  $jvm ai.nos.benchmarks.gpu.GpuSoak /tmp/gpu-models "$seconds" 2>&1 | tee "$out/gpu-soak.log"
fi
if [ "$what" = optim ] || [ "$what" = optim-compile ]; then
  # The nos-optim table (issue #5): Python rows, then NOS rows, SECONDS per row (default 2).
  flag=""; [ "$what" = optim-compile ] && flag="--compile"
  timeout 420 python3 "$g/scripts/gpu/optim_baseline.py" --seconds "${2:-2}" $flag 2>&1 | tee "$out/optim-baseline.log"
  # Its own time limit: with -Dnos.bench.pinned=true (JAVA_TOOL_OPTIONS) the NOS rows take twice
  # as long, and 280 s stopped them in ViT fp16 at 0.5 s a row (2026-11-27, seventh session).
  ${jvm/timeout 280/timeout 560} ai.nos.benchmarks.gpu.OptimBench /tmp/gpu-models "${2:-2}" 2>&1 | tee "$out/optim-bench.log"
fi
if [ "$what" = callers ]; then
  # Issue #20 items 1-2: ResNet-50 fp16, NOS's best TorchScript path (CL, ofi, cudnn + CUDA
  # graphs), batch 1/8/64/256 from a Tensor (pinned by NOS since the seventeenth session) and from
  # a PinnedBuffer; at 64 and 256 also from ordinary direct memory (staged: every Tensor before)
  # and from two callers at once (the calls' streams overlap one's copies with the other's
  # compute); then torch.compile's rows, one and two threads, in the same call.
  ${jvm/-cp/-Dnos.bench.callers=true -Dnos.bench.pinned=true -Dnos.bench.precision=fp16 -cp} ai.nos.benchmarks.gpu.OptimBench /tmp/gpu-models "${2:-2}" resnet50 /tmp/no-aoti best 2>&1 | tee "$out/callers-bench.log"
  [ -n "${CALLERS_NO_PYTHON:-}" ] || timeout 300 python3 "$g/scripts/gpu/optim_baseline.py" --seconds "${2:-2}" --compile-only --only resnet50-fp16 2>&1 | tee "$out/callers-compile-baseline.log"
fi
if [ "$what" = aoti-autotune ]; then
  # Issue #20 item 3: ResNet-50 fp16 channels-last AOTInductor packages compiled with Inductor's
  # max_autotune for batch 64 and 256 (several minutes: its own call), then, in a second call on
  # the same machine (AUTOTUNE_BENCH=1), OptimBench's rows of them beside the best TorchScript
  # path, pinned and from a Tensor.
  if [ "${AUTOTUNE_BENCH:-0}" = 1 ]; then
    ${jvm/-cp/-Dnos.aoti.dir=/tmp/aoti-cache -Dnos.bench.pinned=true -Dnos.bench.precision=fp16 -cp} ai.nos.benchmarks.gpu.OptimBench /tmp/gpu-models "${2:-2}" resnet50 /tmp/aoti buckets 2>&1 | tee "$out/aoti-autotune-bench.log" | grep "^|"
  else
    timeout 560 python3 "$g/scripts/gpu/make_aoti.py" /tmp/aoti "$g/models/digits/digits.pt" resnet50-fp16-cuda-cl-autotune-buckets 2>&1 | grep -v Warning | tail -5 | tee "$out/make-aoti-autotune.log"
  fi
fi
if [ "$what" = vit ]; then
  # Issue #20 item 3: ViT-B/16 fp16 with the callers rows on its two candidate best paths
  # (CL + freeze + cudnn + graphs, then CL + ofi + cudnn + graphs), then Python's eager rows.
  # VIT_SDP_ORDERS="default cudnn flash efficient" (space-separated; each a comma list of
  # SdpOrder's backend names, or "default" for libtorch's own order): instead, Python's eager rows
  # FIRST (the twenty-sixth lease's budget cut them when they came last), then only the freeze
  # path once per order with -Dnos.bench.sdpOrder=ORDER (pinned and from a Tensor, no callers
  # rows, batches VIT_SDP_BATCHES, default 64,256): does libtorch 2.10 give the traced
  # _native_multi_head_attention a slower SDPA backend than torch 2.11? Logs
  # $OUT/vit-baseline.log and vit-sdp-ORDER-bench.log ("OptimBench: SDPA priority [...]" at the top
  # of each but "default"). Unset: the two paths and the baseline as before.
  vit_baseline() {  # Python's eager rows (optim_baseline.py), SECONDS a window
    timeout 150 python3 "$g/scripts/gpu/optim_baseline.py" --seconds "$1" --only vit_b_16-fp16 2>&1 | tee "$out/vit-baseline.log" | grep "^|"
  }
  if [ -n "${VIT_SDP_ORDERS:-}" ]; then
    vit_baseline "${2:-2}"
    for order in $VIT_SDP_ORDERS; do
      sdp=""; [ "$order" = default ] || sdp="-Dnos.bench.sdpOrder=$order"
      ${jvm/-cp/$sdp -Dnos.bench.batches=${VIT_SDP_BATCHES:-64,256} -Dnos.bench.pinned=true -Dnos.bench.precision=fp16 -cp} ai.nos.benchmarks.gpu.OptimBench /tmp/gpu-models "${2:-2}" vit_b_16 /tmp/no-aoti best-freeze 2>&1 | tee "$out/vit-sdp-$order-bench.log" | grep -E "^\||SDPA priority|Exception"
    done
  else
    for path in best-freeze best; do
      ${jvm/-cp/-Dnos.bench.callers=true -Dnos.bench.pinned=true -Dnos.bench.precision=fp16 -cp} ai.nos.benchmarks.gpu.OptimBench /tmp/gpu-models "${2:-2}" vit_b_16 /tmp/no-aoti $path 2>&1 | tee "$out/vit-$path-bench.log" | grep "^|"
    done
    vit_baseline "${2:-2}"
  fi
fi
if [ "$what" = vitprofile ]; then
  # Issue #20 item 3, where ViT-B/16 fp16's time goes: profile_vit.py times (CUDA events, the
  # forward pass alone) and profiles torchvision's vit_b_16 at batch 64 as the nn.Module, its
  # trace in this torch, NOS's file (vit_b_16.pt, made above) frozen in fp16 as NOS's freeze path
  # loads it (with and without a CUDA graph), the module under a CUDA graph, and the module with
  # each SDPA backend alone; the top kernels and the SDPA backend each used. About a minute.
  [ -f /tmp/gpu-models/vit_b_16.pt ] || python3 "$g/scripts/models/make_gpu_models.py" /tmp/gpu-models >/dev/null 2>>"$out/make-models.log"
  timeout 200 python3 "$g/scripts/gpu/profile_vit.py" --file /tmp/gpu-models/vit_b_16.pt 2>&1 | grep -v Warning | tee "$out/vit-profile.log"
fi
if [ "$what" = vitforward ]; then
  # Issue #20 item 3, NOS's side of vitprofile's "file" and "file-graphs" rows: ForwardProbe loads
  # vit_b_16.pt as profile_vit.py's nos_like_file does (eval, fp16, channels-last weights, freeze,
  # cudnn benchmark) and times the forward pass alone in libtorch 2.10, the input already on the
  # device (channels-last, batch VIT_FORWARD_BATCH, default 64): 200 calls each waited for (the
  # median) and 200 back to back (the mean), then the same replayed from NOS's CUDA-graph
  # recording. Once in libtorch's SDPA order, once with cuDNN's attention first. Logs
  # $OUT/vit-forward-default.log and vit-forward-cudnn.log (grep "^ForwardProbe:"). Under a minute.
  [ -f /tmp/gpu-models/vit_b_16.pt ] || python3 "$g/scripts/models/make_gpu_models.py" /tmp/gpu-models >/dev/null 2>>"$out/make-models.log"
  for order in default cudnn; do
    sdp=""; [ "$order" = default ] || sdp="-Dnos.bench.sdpOrder=$order"
    ${jvm/-cp/$sdp -cp} ai.nos.benchmarks.gpu.ForwardProbe /tmp/gpu-models/vit_b_16.pt cuda:0 "${VIT_FORWARD_BATCH:-64}" fp16 200 224 2>&1 | tee "$out/vit-forward-$order.log" | grep -E "^ForwardProbe|Exception|Error"
  done
fi
if [ "$what" = callpath ]; then
  # Issue #20 item 3, where NOS's call spends the 1.05 ms around ViT-B/16's forward pass (Python
  # 0.72): CallPathProbe loads vit_b_16.pt through NOS's public API as OptimBench's freeze path
  # does (CL, freeze, cudnn, CUDA graphs; batching with preferred sizes 1/8/64/256), fp16, cuDNN's
  # attention first, and times the whole call from a PinnedBuffer at batch CALLPATH_BATCH
  # (default 64) through the manager and without it, then each piece alone (the pinned bytes'
  # copy, NOS's copy and cast, the cast, channels-last, the copy into the static input, the fused
  # copy Python does, the replay, the logits' copy back), 200 calls each, medians. Only vit_b_16.pt
  # is made (the generic step above is skipped). Log $OUT/vit-callpath.log (grep
  # "^CallPathProbe:"). About a minute.
  [ -f /tmp/gpu-models/vit_b_16.pt ] || python3 "$g/scripts/models/make_gpu_models.py" /tmp/gpu-models vit_b_16 >/dev/null 2>>"$out/make-models.log" || { tail -20 "$out/make-models.log"; exit 1; }
  ${jvm/-cp/-Dnos.bench.sdpOrder=cudnn -cp} ai.nos.benchmarks.gpu.CallPathProbe /tmp/gpu-models/vit_b_16.pt cuda:0 "${CALLPATH_BATCH:-64}" fp16 200 224 2>&1 | tee "$out/vit-callpath.log" | grep -E "^CallPathProbe|Exception|Error"
fi
if [ "$what" = trt ]; then
  # Issue #22: ResNet-50's TensorRT engine through Optimizer.tensorRt (build, guard, serve), batch
  # 1/8/64/256 from a Tensor and pinned, then torch.compile's rows beside it. TensorRT's libraries
  # must be on LD_LIBRARY_PATH (. scripts/gpu/trt-env.sh). TRT_PRECISIONS: fp16 (default), fp32,
  # int8 (calibrated on random images; TrtBench says why that is enough for speed).
  python3 "$g/scripts/gpu/make_trt_onnx.py" /tmp/gpu-models/resnet50.pt /tmp/trt/resnet50.onnx \
    > "$out/trt-onnx.log" 2>&1 || { tail -20 "$out/trt-onnx.log"; exit 1; }
  ${jvm/timeout 280/timeout 420} ai.nos.benchmarks.gpu.TrtBench /tmp/gpu-models /tmp/trt/resnet50.onnx "${2:-2}" ${TRT_PRECISIONS:-fp16} 2>&1 | tee "$out/trt-bench.log"
  [ -n "${TRT_NO_PYTHON:-}" ] || timeout 300 python3 "$g/scripts/gpu/optim_baseline.py" --seconds "${2:-2}" --compile-only --only resnet50-fp16 2>&1 | tee "$out/trt-compile-baseline.log"
fi
if [ "$what" = optim-aoti ]; then
  # ResNet-50's NOS rows with AOTInductor packages (make_aoti.py) beside the TorchScript ones.
  [ -f /tmp/aoti/resnet50-fp16-cuda-buckets.pt2 ] || timeout 420 python3 "$g/scripts/gpu/make_aoti.py" /tmp/aoti "$g/models/digits/digits.pt" resnet50-fp16-cuda resnet50-fp16-cuda-buckets resnet50-fp32-cuda 2>&1 | grep -v Warning | tail -5 | tee "$out/make-aoti-resnet50.log"
  ${jvm/-cp/-Dnos.aoti.dir=/tmp/aoti-cache -cp} ai.nos.benchmarks.gpu.OptimBench /tmp/gpu-models "${2:-2}" resnet50 /tmp/aoti 2>&1 | tee "$out/optim-bench-aoti.log"
fi
if [ "$what" = aoti-cl ]; then
  # The packages with a library per batch size (plain and channels-last) beside the best
  # TorchScript path and Python's torch.compile, ResNet-50 fp16 only: the short form of optim-aoti.
  [ -f /tmp/aoti/resnet50-fp16-cuda-cl-buckets.pt2 ] || timeout 300 python3 "$g/scripts/gpu/make_aoti.py" /tmp/aoti "$g/models/digits/digits.pt" resnet50-fp16-cuda-buckets resnet50-fp16-cuda-cl-buckets 2>&1 | grep -v Warning | tail -5 | tee "$out/make-aoti-cl.log"
  ${jvm/-cp/-Dnos.aoti.dir=/tmp/aoti-cache -Dnos.bench.pinned=true -cp} ai.nos.benchmarks.gpu.OptimBench /tmp/gpu-models "${2:-2}" resnet50 /tmp/aoti buckets 2>&1 | tee "$out/optim-bench-aoti-cl.log"
  timeout 300 python3 "$g/scripts/gpu/optim_baseline.py" --seconds "${2:-2}" --compile --only resnet50-fp16 2>&1 | tee "$out/optim-baseline-r50-fp16.log"
fi
if [ "$what" = overhead ]; then
  # A call's time outside the model at ResNet-50's sizes: overhead.pt through NOS, from an
  # ordinary tensor (copied to pinned memory, then to the GPU) and from a PinnedBuffer (one DMA),
  # and through Python (input pinned, and pageable). The difference is what NOS adds per call.
  [ -f /tmp/gpu-models/overhead.pt ] || python3 "$g/scripts/models/make_gpu_models.py" /tmp/gpu-models >/dev/null 2>>"$out/make-models.log"
  ${jvm/-cp/-Dnos.bench.pinned=true -cp} ai.nos.benchmarks.gpu.OptimBench /tmp/gpu-models "${2:-1}" overhead 2>&1 | tee "$out/optim-bench-overhead.log"
  for d in fp32 fp16; do
    timeout 120 python3 "$g/scripts/gpu/optim_baseline.py" --seconds "${2:-1}" --only "overhead-$d" 2>&1 | grep -E "eager( channels-last, pageable input)? \||^\|---|model" | tee -a "$out/optim-baseline-overhead.log"
  done
fi
if [ "$what" = compile-only ]; then
  # Only the torch.compile rows, to sit beside an `optim` run's rows from the same machine.
  timeout 560 python3 "$g/scripts/gpu/optim_baseline.py" --seconds "${2:-2}" --compile-only 2>&1 | tee "$out/optim-compile.log"
fi
if [ "$what" = hub ]; then
  # The nos-hub table (issue #6): every builtin catalog entry, exported with random weights, served
  # through its task facade from a file: base URI. SECONDS per measurement (default 3).
  [ -f /tmp/hub-export/ultralytics/yolov8n/model.pt.lock.json ] || timeout 300 python3 "$g/scripts/hub/export_models.py" /tmp/hub-export 2>&1 | tail -20 | tee "$out/hub-export.log"
  $jvm ai.nos.benchmarks.gpu.HubBench /tmp/hub-export "${2:-3}" 2>&1 | tee "$out/hub-bench.log"
fi
if [ "$what" = aoti ]; then
  # Issue #5's question: do AOTInductor libraries compiled by this machine's torch run in NOS's
  # libtorch? One JVM per artifact, so a native crash loses only that one.
  timeout 420 python3 "$g/scripts/gpu/make_aoti.py" /tmp/aoti "$g/models/digits/digits.pt" 2>&1 | tee "$out/make-aoti.log"
  # The portable CPU artifact comes back: a CPU test in CI runs it (models/aoti).
  mkdir -p "$out/aoti" && cp /tmp/aoti/digits-cpu-portable.pt2 "$out/aoti/" 2>/dev/null
  for j in /tmp/aoti/*.json; do
    [ -f "$j" ] || continue
    ${jvm/timeout 280/timeout 120} ai.nos.benchmarks.gpu.AotiProbe "$j" 2>&1 | tail -20 | tee -a "$out/aoti-probe.log"
  done
fi
if [ "$what" = streams ]; then
  # The experiment behind "a CUDA stream per worker": memory left per (thread, stream) and the
  # throughput of 2 threads on the current stream vs a stream each.
  $jvm ai.nos.benchmarks.gpu.StreamProbe /tmp/gpu-models "${2:-5}" 2>&1 | tee "$out/stream-probe.log"
fi
if [ "$what" = swap ]; then
  # Issue 24: ResNet-50 fp16 auto swapped back from the host tier (with and without CUDA graphs,
  # and with the tier off as before), the first call after a load on a fresh thread against a
  # warm one, and 8 copies with room for 2 under 16 threads (SECONDS, default 20, tier on and
  # off); Python's reload and weight-copy rows first. The tables are at the end of swap-bench.log.
  timeout 200 python3 "$g/scripts/gpu/swap_baseline.py" /tmp/gpu-models/resnet50.pt > "$out/swap-baseline.log" 2>&1
  ${jvm/timeout 280/timeout 420} ai.nos.benchmarks.gpu.SwapBench /tmp/gpu-models "${2:-20}" > "$out/swap-bench.log" 2>&1
  rc=$?
  grep -E "^\|" "$out/swap-baseline.log"
  grep -E "^(SwapBench|\|)|WARN|Exception" "$out/swap-bench.log" | tail -30
  [ $rc -eq 0 ] || echo "SwapBench exited with $rc; see $out/swap-bench.log"
fi
if [ "$what" = scale ]; then
  # Issue 23: a step load of 4x (4 -> 16 -> 4 closed-loop clients, SECONDS per phase, default 20)
  # on ResNet-50 fp16 with a queue-depth scaling policy (1..4 copies, 4 calls per copy, 5 s
  # window): copies, wanted copies, devices and calls/s per second. INFO: each scaling decision.
  ${jvm/defaultLogLevel=warn/defaultLogLevel=info} ai.nos.benchmarks.gpu.ScaleBench gpu /tmp/gpu-models "${2:-20}" 4 > "$out/scale-bench.log" 2>&1
  rc=$?
  grep -E "^(ScaleBench|\||calls )|scaled|retired|no room|WARN|Exception" "$out/scale-bench.log" | tail -90
  [ $rc -eq 0 ] || echo "ScaleBench exited with $rc; see $out/scale-bench.log"
fi
if [ "$what" = generate ]; then
  # Issue #17: the 271 M Llama (random weights) exported with transformers' references made
  # here, NOS's parity and speed, then transformers' generate speed (SECONDS = rounds, default 3).
  # GEN_QUICK=1: fp32 references only (a faster export); GEN_HF=0: no transformers speed run;
  # GEN_EAGER=0: NOS's speed with CUDA graphs only; GEN_NOOPT=1 / GEN_OPT=1: the speed again with
  # TorchScript's optimizing executor off / on (C = GEN_OPT_C, default 1).
  # GEN_EXPORT_ARGS: more make_tiny_llama.py options (--no-lean-norm, --no-fused-residual: transformers' roundings), exported into a folder
  # of their own.
  d=/tmp/llm271; [ -n "${GEN_EXPORT_ARGS:-}" ] && d="/tmp/llm271$(echo "$GEN_EXPORT_ARGS" | tr -cs 'a-z0-9' '-')"
  quick=""; [ "${GEN_QUICK:-0}" = 1 ] && quick="--quick"
  [ -f $d/model.pt ] || timeout 400 python3 "$g/scripts/models/make_tiny_llama.py" --size 271m --out $d $quick ${GEN_EXPORT_ARGS:-} > "$out/make-llm271.log" 2>&1 || { tail -20 "$out/make-llm271.log"; exit 1; }
  tail -2 "$out/make-llm271.log" 2>/dev/null; cp $d/reference.json "$out/llm271-reference.json"
  eager="eager"; [ "${GEN_EAGER:-1}" = 1 ] || eager="no-eager"
  ${jvm/defaultLogLevel=warn/defaultLogLevel=info} ai.nos.benchmarks.gpu.GenerateBench $d "${2:-3}" ${GEN_C:-1,8,32,128} all $eager 2>&1 | tee "$out/generate-bench.log"
  [ "${GEN_HF:-1}" = 1 ] && timeout 400 python3 "$g/scripts/bench/hf_generate.py" ${GEN_HF_ARGS:-} 2>&1 | grep -v Warning | tee "$out/hf-generate.log"
  [ "${GEN_NOOPT:-0}" = 1 ] && ${jvm/-cp/-Dnos.generate.jitOptimize=false -cp} ai.nos.benchmarks.gpu.GenerateBench $d "${2:-3}" ${GEN_OPT_C:-1} speed $eager 2>&1 | tee "$out/generate-bench-noopt.log"
  [ "${GEN_OPT:-0}" = 1 ] && ${jvm/-cp/-Dnos.generate.jitOptimize=true -cp} ai.nos.benchmarks.gpu.GenerateBench $d "${2:-3}" ${GEN_OPT_C:-1} speed $eager 2>&1 | tee "$out/generate-bench-opt.log"
fi
if [ "$what" = stepprobe ]; then
  # #17/#18, the pipelining puzzle (docs/status.md, eighteenth session): NOS's decode step taken
  # apart by DecodeStepProbe (the recorded step's replays alone; the engine's greedy step back to
  # back, launched ahead as the pipelined engine, waited for each as the unpipelined one; the
  # launch's host time) on the 271m export, then profile_step.py's `f` (Python's capture of the
  # same step, same flags) in the same call; and on whisper-tiny's decoder when bench.sh whisper
  # made it. SECONDS = steps a measurement (default 300). About 2 minutes with the quick export.
  d=/tmp/llm271
  [ -f $d/model.pt ] || timeout 400 python3 "$g/scripts/models/make_tiny_llama.py" --size 271m --out $d --quick > "$out/make-llm271.log" 2>&1 || { tail -20 "$out/make-llm271.log"; exit 1; }
  $jvm ai.nos.benchmarks.gpu.DecodeStepProbe $d/model.pt 1,8,64,128 "${2:-300}" fp16 cuda:0 128 257 128 2>&1 | tee "$out/decode-step-probe.log"
  w=/tmp/whisper-tiny-hf/decoder.pt
  [ -f $w ] && $jvm ai.nos.benchmarks.gpu.DecodeStepProbe $w 1,64 "${2:-300}" fp16 cuda:0 64 448 64 2>&1 | tee -a "$out/decode-step-probe.log"
  # Which SDPA backend NOS's libtorch names for the Whisper step's two attentions (SdpaProbe),
  # beside Python's choice for the same shapes (profile_whisper_step.py's "sdp choice" lines).
  $jvm ai.nos.benchmarks.gpu.SdpaProbe cuda:0 64 fp16 200 2>&1 | tee "$out/sdpa-probe.log"
  $jvm ai.nos.benchmarks.gpu.SdpaProbe cuda:0 1 fp16 200 llama 2>&1 | tee -a "$out/sdpa-probe.log"
  # The same Whisper file in this Python's torch, beside its `slice` step under each SDPA
  # backend (nineteenth session: NOS's 64-row step 0.94 ms against slice's 0.58).
  [ -f $w ] && timeout 150 python3 "$g/scripts/bench/profile_whisper_step.py" --rows 64 --top 4 \
    --modes slice,export,slice-flash,slice-efficient,slice-cudnn,slice-math --export $w 2>&1 \
    | grep -v Warning | tee "$out/whisper-step-backends.log"
  timeout 150 python3 "$g/scripts/bench/profile_step.py" --only f --lean-norm --fused-residual --budget 120 2>&1 | grep -v Warning | tee "$out/profile-step-f.log"
fi
if [ "$what" = whisper ]; then
  # Issue #18 "Fast": whisper-tiny (random weights) exported with --save-hf (NOS's TorchScript
  # and the same weights for transformers), whisper_clips.py's clips (one 60 s, 64 x 30 s), then
  # transformers' eager generate (hf_whisper.py) and NOS (WhisperBench) on them: RTF of the 60 s
  # clip and audio-h/h at 64 clips, median of ROUNDS (SECONDS argument, default 3) after a
  # warm-up, precisions WHISPER_PRECISION (default fp16,fp32), WHISPER_NEW new tokens a window
  # (default 128, both sides). WhisperBench also checks the 60 s clip's fp32 ids against
  # transformers' ($OUT/whisper-hf-ids.json). Logs: $OUT/make-whisper-tiny.log, hf-whisper.log,
  # whisper-bench.log. Sized for one call of under 4 minutes; not yet timed on a GPU.
  # WHISPER_ATTENTION=matmul exports the decoder step's attention as matmul + softmax, the form
  # before the fifteenth session (make_whisper.py --attention; default sdpa), into its own folder.
  att=${WHISPER_ATTENTION:-sdpa}
  # make_whisper.py checks its export on nos-hub's clips (the nineteenth session's first call
  # failed without the link: the suite had not run before)
  . "$g/scripts/gpu/link-hub.sh"
  d=/tmp/whisper-tiny-hf; [ "$att" = sdpa ] || d=/tmp/whisper-tiny-hf-$att; c=/tmp/whisper-clips
  prec=${WHISPER_PRECISION:-fp16,fp32}; new=${WHISPER_NEW:-128}; rounds=${2:-3}
  [ -f $d/hf/config.json ] && [ -f $d/decoder.pt ] || timeout 150 python3 "$g/scripts/models/make_whisper.py" --config tiny --save-hf --attention "$att" --out $d > "$out/make-whisper-tiny.log" 2>&1 || { tail -20 "$out/make-whisper-tiny.log"; exit 1; }
  tail -2 "$out/make-whisper-tiny.log" 2>/dev/null
  [ -f $c/clip_63.wav ] || timeout 60 python3 "$g/scripts/bench/whisper_clips.py" $c 2>&1 | tee "$out/whisper-clips.log"
  rm -f "$out/whisper-hf-ids.json"
  timeout 150 python3 "$g/scripts/bench/hf_whisper.py" --model $d/hf --clips $c --precision "$prec" --rounds "$rounds" --new "$new" --ids-out "$out/whisper-hf-ids.json" 2>&1 | grep -v Warning | tee "$out/hf-whisper.log"
  ids="$out/whisper-hf-ids.json"; [ -f "$ids" ] || ids=-
  ${jvm/timeout 280/timeout 200} ai.nos.benchmarks.gpu.WhisperBench $d $c "$prec" "$rounds" "$new" "$ids" cuda:0 64 2>&1 | tee "$out/whisper-bench.log"
  # Where an admission's time goes inside the JVM (#18: 73-78 ms of encoding in a 64-clip fp16
  # round against a 3.65 ms encoder a 16-window batch): WhisperAdmitProbe waits after each step
  # of the engine's admission path (pack, upload, features, encoder, cross_kv) and times them
  # at 1, 16 and 64 windows; WHISPER_PROFILE=0 skips it with the step profile below.
  # profile_whisper_encode.py: the encoder alone and the same admission path in Python.
  [ "${WHISPER_PROFILE:-1}" = 1 ] && for p in ${prec//,/ }; do ${jvm/timeout 280/timeout 120} ai.nos.benchmarks.gpu.WhisperAdmitProbe $d 1,16,64 20 $p 2>&1 | grep -E "WhisperAdmitProbe|Exception"; done | tee "$out/whisper-admit-probe.log"
  [ "${WHISPER_PROFILE:-1}" = 1 ] && timeout 120 python3 "$g/scripts/bench/profile_whisper_encode.py" $d 2>&1 | grep -v Warning | tee "$out/whisper-encode-profile.log"
  # The decode step's device time at 1 and 64 rows as NOS replays it, and without its gathers
  # and copies (docs/speech.md, "64 windows: where the step goes"); WHISPER_PROFILE=0 skips it.
  [ "${WHISPER_PROFILE:-1}" = 1 ] && timeout 150 python3 "$g/scripts/bench/profile_whisper_step.py" --rows 1,64 --dtype fp16 2>&1 | grep -v Warning | tee "$out/whisper-step-profile.log"
fi
if [ "$what" = rounds ]; then
  # Issue 20 item 4: ResNet-50 fp16, NOS's best paths (CL+ofi+graphs and the AOTInductor packages,
  # from a Tensor and from a PinnedBuffer) and Python's (eager, CUDA graphs, torch.compile),
  # alternated in one lease. ROUNDS (third argument, default "1 2") names the rounds to run: an
  # odd round runs Python then NOS, an even one NOS then Python (A B B A over rounds 1 and 2).
  # Every cell is 3 windows of SECONDS (default 3) in each round. Not yet timed on a GPU: a round
  # should take 7-9 minutes at 3 s (the first call also makes the packages), so a 10-minute call
  # runs one: `bench.sh rounds 3 1`, then `bench.sh rounds 3 2` (2 s windows if it runs over). Logs:
  # $OUT/rounds/r<N>-python.log and r<N>-nos.log; commit them under benchmarks/logs/<date>/ and
  # `python3 scripts/gpu/optim_table.py resnet50-fp16 <those logs>` pools every window of every
  # round into "median [min] (p50 ms)" cells.
  s=${2:-3}
  round_jvm=${jvm/timeout 280/timeout 420}
  [ -f /tmp/aoti/resnet50-fp16-cuda-cl-buckets.pt2 ] || timeout 300 python3 "$g/scripts/gpu/make_aoti.py" /tmp/aoti "$g/models/digits/digits.pt" resnet50-fp16-cuda-buckets resnet50-fp16-cuda-cl-buckets 2>&1 | grep -v Warning | tail -5 | tee "$out/make-aoti-cl.log"
  mkdir -p "$out/rounds"
  for r in ${3:-1 2}; do
    order="python nos"; [ $((r % 2)) -eq 0 ] && order="nos python"
    for who in $order; do
      if [ "$who" = python ]; then
        timeout 420 python3 "$g/scripts/gpu/optim_baseline.py" --seconds "$s" --windows 3 --compile --only resnet50-fp16 > "$out/rounds/r$r-python.log" 2>&1
      else
        ${round_jvm/-cp/-Dnos.aoti.dir=/tmp/aoti-cache -Dnos.bench.pinned=true -Dnos.bench.windows=3 -cp} ai.nos.benchmarks.gpu.OptimBench /tmp/gpu-models "$s" resnet50 /tmp/aoti buckets > "$out/rounds/r$r-nos.log" 2>&1
      fi
      echo "round $r, $who: exit $? ($out/rounds/r$r-$who.log)"
    done
  done
  python3 "$g/scripts/gpu/optim_table.py" resnet50-fp16 "$out"/rounds/r*-*.log
fi
