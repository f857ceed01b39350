# Sourced on the GPU machine after shared/gpu/unpack: puts TensorRT 10.6's libraries (route c's
# parts of scripts/gpu/trt-routes-pack.sh c: libnvinfer.so.10, libnvonnxparser.so.10,
# libnvinfer_plugin.so.10 and the builder resource for every GPU, 1.9 GB unpacked) on LD_LIBRARY_PATH, as a TensorRT install
# would be, so that NOS's JavaCPP loader finds them without the 1.09 GB redist jar.
#
#   . /root/gpu/scripts/gpu/trt-env.sh     # after the 12 part calls (carry .gpu/trt/pNN)
t=/root/trt
if ls "$t"/in/part.* >/dev/null 2>&1; then
  echo "trt-env: reassembling $(ls "$t"/in/part.* | wc -l) parts"
  cat "$t"/in/part.* | xz -d -T0 | tar -xf - -C "$t" && rm -f "$t"/in/part.* \
    || echo "trt-env: the parts are broken"
fi
# libnvinfer_plugin.so.10 (33 MB): the presets' Loader.load(nvinfer.class) wants it (NOS's
# probe said "libnvinfer_plugin.so.10 is missing" without it); route c's parts of the thirteenth
# session lack it, so it comes as one more call: xz of the redist jar's file, carried as
# .gpu/trt/px/libnvinfer_plugin.so.10.xz and moved to $t/in (trt-routes-pack.sh c now packs it).
for x in "$t"/in/*.so.*.xz; do
  [ -f "$x" ] || continue
  mkdir -p "$t/c" && xz -d -c "$x" > "$t/c/$(basename "${x%.xz}")" && rm -f "$x"
done
if [ -f "$t/c/libnvinfer.so.10" ]; then
  export LD_LIBRARY_PATH="$t/c${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "trt-env: TensorRT 10.6 from $t/c"
else
  echo "trt-env: no TensorRT libraries in $t/c (the TensorRT tests will skip)"
fi
