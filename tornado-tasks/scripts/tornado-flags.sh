# Sourced by scripts/tornadovm.sh (a developer's machine) and by gpu-run.sh (a GPU machine, beside the bundle); works
# under set -e.
#   tornado_sdk_flags SDK    sets TORNADO_SDK_FLAGS (array): TornadoVM's JVM flags from SDK/tornado-argfile, pointed at
#                            SDK, without the backends whose native libraries cannot load on this machine
#
# TornadoVM starts every backend whose driver module is on the module path, and one whose JNI library cannot load (no
# libcuda.so.1 or libnvrtc without an NVIDIA driver, no libOpenCL.so.1) stops the whole runtime. So each backend's JNI
# library is checked with ldd under the current LD_LIBRARY_PATH; a backend with a missing dependency is left out of the
# module path (with its JNI jar), --add-modules, the exports and native access, and one line on stderr names them all.
# Modules the argfile names but the SDK lacks (TornadoVM's CUDA argfile names cuFFT, cuDNN, cuSPARSE and CUTLASS whether
# built or not) are dropped quietly. Where the CUDA backend stays, it becomes TornadoVM's default backend (tornado.cuda.priority): the
# default backend decides how every task is sketched, and CUDA is the one meant for NVIDIA GPUs. Runs are queued
# (-Dtornado.vmflush=false, see dev.tornadovit.tornado.Plans).

# label, driver jar prefix, module, JNI library
_TORNADO_NATIVE_BACKENDS=(
  "OpenCL tornado-drivers-opencl tornado.drivers.opencl libtornado-opencl.so"
  "PTX tornado-drivers-ptx tornado.drivers.ptx libtornado-ptx.so"
  "CUDA tornado-drivers-cuda tornado.drivers.cuda libtornado-cuda.so"
  "cuBLAS tornado-cublas tornado.cublas libtornado-cublas.so"
)

# Why JNI library $1 cannot load here (it is absent, or the first dependency that does not resolve), or nothing.
_tornado_unloadable() {
  if [ ! -f "$1" ]; then
    echo "$(basename "$1") is absent from the SDK"
    return 0
  fi
  local missing
  missing=$(ldd "$1" 2>/dev/null | awk '/not found/ {print $1; exit}')
  if [ -n "$missing" ]; then echo "$(basename "$1") needs $missing"; fi
}

tornado_sdk_flags() {
  local sdk="$1"
  local argfile="$sdk/tornado-argfile"
  if [ ! -f "$argfile" ]; then
    echo "$argfile is missing: $sdk is not a TornadoVM SDK" >&2
    return 1
  fi
  local jars="$sdk/share/java/tornado"
  # The folder the SDK was built in, which the argfile names (a bundle's SDK has moved since).
  local original
  original=$(sed -n 's/^-Djava.library.path=\(.*\)\/lib$/\1/p' "$argfile")

  local -A left_out=()
  local entry label prefix module library missing notes=
  for entry in "${_TORNADO_NATIVE_BACKENDS[@]}"; do
    read -r label prefix module library <<<"$entry"
    compgen -G "$jars/$prefix-[0-9]*.jar" >/dev/null || continue # not built into this SDK
    missing=$(_tornado_unloadable "$sdk/lib/$library")
    if [ -z "$missing" ] && [ "$module" = tornado.cublas ] && [ -n "${left_out[tornado.drivers.cuda]:-}" ]; then
      missing="its tasks run on the CUDA backend"
    fi
    if [ -n "$missing" ]; then
      left_out[$module]=1
      notes+="${notes:+, }$label ($missing)"
    fi
  done
  if [ -n "$notes" ]; then echo "TornadoVM: left out for want of native libraries on this machine: $notes" >&2; fi

  # The modules that stay: every jar of the SDK's module folder but the left-out drivers.
  local -A present=()
  local module_path="" jar base name
  for jar in "$jars"/*.jar; do
    base=$(basename "$jar" .jar)
    name="${base%%-[0-9]*}"           # tornado-drivers-cuda-5.2.1-jdk25-dev -> tornado-drivers-cuda
    module="${name//-/.}"             # -> tornado.drivers.cuda (TornadoVM names its modules after its jars)
    # a driver's JNI jar (tornado-drivers-cuda-jni, tornado-drivers-cublas-jni) goes with its driver
    local owner="${module%.jni}"
    if [ -n "${left_out[$module]:-}" ] || [ -n "${left_out[$owner]:-}" ] || [ -n "${left_out[tornado.${owner#tornado.drivers.}]:-}" ]; then
      continue
    fi
    present[$module]=1
    module_path+="${module_path:+:}$jar"
  done

  # Keeps from a comma list $1 the JDK's names and the modules present.
  _tornado_keep_modules() {
    local kept="" m
    local -a items
    IFS=, read -ra items <<<"$1"
    for m in "${items[@]}"; do
      if [[ "$m" != tornado.* ]] || [ -n "${present[$m]:-}" ]; then kept+="${kept:+,}$m"; fi
    done
    echo "$kept"
  }

  # An --add-exports, --add-opens or --add-reads value (SOURCE/PACKAGE=TARGETS or SOURCE=TARGETS) for the modules
  # present, or nothing when its source or every target is absent.
  _tornado_keep_access() {
    local source="${1%%[/=]*}" targets
    if [[ "$source" == tornado.* ]] && [ -z "${present[$source]:-}" ]; then return 0; fi
    targets=$(_tornado_keep_modules "${1#*=}")
    if [ -n "$targets" ]; then echo "${1%%=*}=$targets"; fi
  }

  TORNADO_SDK_FLAGS=()
  local line word previous="" words value
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%%#*}"
    [ -n "$original" ] && line="${line//$original/$sdk}"
    line="${line//\$\{TORNADOVM_HOME\}/$sdk}"
    read -ra words <<<"$line"
    for word in "${words[@]}"; do
      case "$previous" in
        --module-path | -p)
          word="$module_path" ;;
        --add-modules)
          word=$(_tornado_keep_modules "$word") ;;
        --add-exports | --add-opens | --add-reads)
          word=$(_tornado_keep_access "$word")
          if [ -z "$word" ]; then
            unset 'TORNADO_SDK_FLAGS[${#TORNADO_SDK_FLAGS[@]}-1]' # the option without a target: drop both
            previous=""
            continue
          fi ;;
      esac
      case "$word" in
        --add-exports=* | --add-opens=* | --add-reads=*)
          value=$(_tornado_keep_access "${word#*=}")
          if [ -z "$value" ]; then previous=""; continue; fi
          word="${word%%=*}=$value" ;;
      esac
      if [[ "$word" == --enable-native-access=* ]]; then
        value=$(_tornado_keep_modules "${word#*=}")
        # TornadoVM's generated argfile leaves out the CUDA driver and cuBLAS, which load native libraries too; our
        # CUDA library tasks (tornado-tasks, on the class path) bind cuBLAS with Java's foreign-function API
        for module in tornado.drivers.cuda tornado.cublas; do
          if [ -n "${present[$module]:-}" ] && [[ ",$value," != *",$module,"* ]]; then value+="${value:+,}$module"; fi
        done
        value+="${value:+,}ALL-UNNAMED"
        word="--enable-native-access=$value"
      fi
      TORNADO_SDK_FLAGS+=("$word")
      previous="$word"
    done
  done <"$argfile"
  if [ -n "${present[tornado.drivers.cuda]:-}" ]; then TORNADO_SDK_FLAGS+=(-Dtornado.cuda.priority=100); fi
  # A graph run returns once queued, not once finished: TornadoViT's backend runs all its plans in one device queue
  # and waits only where the host needs a result (dev.tornadovit.tornado.Plans); later JVM options override it.
  TORNADO_SDK_FLAGS+=(-Dtornado.vmflush=false)
  # and replays TornadoVM's captured CUDA graphs itself, found in TornadoVM's task graphs (dev.tornadovit.tornado.GraphLinks)
  local package
  for package in runtime runtime.tasks runtime.interpreter; do
    TORNADO_SDK_FLAGS+=(--add-opens "tornado.runtime/uk.ac.manchester.tornado.$package=ALL-UNNAMED")
  done
}
