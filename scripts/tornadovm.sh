# Sourced by ./tornadovit and ./run-tests when TORNADOVM_HOME points at a TornadoVM SDK. Builds and tests the
# TornadoVM backend (tornado-tasks/). TornadoVM itself is not built here: its API jar is installed into the local
# Maven repository under a fixed coordinate so that tornado-tasks/pom.xml can compile against it.
#   tornado_prepare DIR   sets TORNADO_JAVA_FLAGS (array) and TORNADO_TASKS_JAR, building the module if stale
#   tornado_test DIR      builds the module and runs its tests once on every TornadoVM device present

tornado_api_jar() {
  local jar
  jar=$(ls "$TORNADOVM_HOME"/share/java/tornado/tornado-api-*.jar 2>/dev/null | head -n 1)
  if [ -z "$jar" ]; then
    echo "TORNADOVM_HOME=$TORNADOVM_HOME has no share/java/tornado/tornado-api-*.jar: is it a TornadoVM SDK?" >&2
    return 1
  fi
  echo "$jar"
}

# Installs $2 as Maven artifact $1 (group:artifact:version[:classifier]) unless the installed copy is identical
# already; $3, if given, is its pom.
tornado_install_jar() {
  local coordinate="$1" file="$2" pom="${3:-}"
  local group artifact version classifier
  IFS=: read -r group artifact version classifier <<<"$coordinate"
  # the local repository: Maven's default, or the one MAVEN_OPTS names (-Dmaven.repo.local=...)
  local repository="$HOME/.m2/repository"
  if [[ " ${MAVEN_OPTS:-} " =~ [[:space:]]-Dmaven\.repo\.local=([^[:space:]]+) ]]; then repository="${BASH_REMATCH[1]}"; fi
  local installed="$repository/${group//.//}/$artifact/$version/$artifact-$version${classifier:+-$classifier}.jar"
  if [ -f "$installed" ] && cmp -s "$installed" "$file"; then return 0; fi
  local args=(-q -B install:install-file -Dfile="$file" -DgroupId="$group" -DartifactId="$artifact" -Dversion="$version" -Dpackaging=jar)
  [ -n "$pom" ] && args+=(-DpomFile="$pom")
  [ -n "$classifier" ] && args+=(-Dclassifier="$classifier")
  mvn "${args[@]}" >&2
}

# TornadoVM's JVM flags from the SDK's argfile (tornado-tasks/scripts/tornado-flags.sh: the module path lists the SDK's
# jars, not '.', which would turn any jar in the working directory into a module, and leaves out backends whose native
# libraries are missing here), as an array, plus ours:
#  - the backend links task graphs' device buffers through tornado.api internals (TaskGraphs, GraphLinks);
#  - a kernel that cannot be compiled must fail, not run silently as sequential Java;
#  - the TornadoVM bytecode of a graph with hundreds of tasks outgrows the 4 KB default buffer.
tornado_flags() {
  local argfile="$TORNADOVM_HOME/tornado-argfile"
  if [ ! -f "$argfile" ]; then
    echo "$argfile is missing: TORNADOVM_HOME=$TORNADOVM_HOME is not a TornadoVM SDK" >&2
    return 1
  fi
  source "$(dirname "${BASH_SOURCE[0]}")/../tornado-tasks/scripts/tornado-flags.sh"
  tornado_sdk_flags "$TORNADOVM_HOME" || return 1
  TORNADO_JAVA_FLAGS=("${TORNADO_SDK_FLAGS[@]}")
  # Every device tensor has an off-heap host copy (a TornadoVM FloatArray), more than the default direct-memory limit
  # (the heap's size) for large models: allow up to the machine's memory.
  local ram_kb
  ram_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || true)
  TORNADO_JAVA_FLAGS+=(--add-opens tornado.api/uk.ac.manchester.tornado.api=ALL-UNNAMED
    -Dtornado.recover.bailout=false -Dtornado.tvm.maxbytecodesize=1048576)
  if [ -n "$ram_kb" ]; then TORNADO_JAVA_FLAGS+=(-XX:MaxDirectMemorySize=$((ram_kb / 1024))m); fi
}

tornado_prepare() {
  local here="$1"
  tornado_flags || exit 1
  # PoCL (OpenCL on the CPU) must not share its kernel cache between JVMs running at once: one folder per run.
  if [ -z "${POCL_CACHE_DIR:-}" ]; then
    mkdir -p "$here/target/pocl"
    POCL_CACHE_DIR=$(mktemp -d "$here/target/pocl/run.XXXXXX")
    export POCL_CACHE_DIR
  fi
  local module="$here/tornado-tasks"
  TORNADO_TASKS_JAR="$module/target/tornadovit-tornado.jar"
  local core="$here/target/tornadovit-0.1.0-SNAPSHOT.jar"
  if [ ! -f "$core" ]; then
    (cd "$here" && mvn -q -B -DskipTests package) >&2
  fi
  local api
  api=$(tornado_api_jar) || exit 1
  tornado_install_jar dev.tornadovit.sdk:tornado-api:local "$api"
  # the runtime's library-task interface (TornadoLibraryProvider), which our CUDA library provider implements
  tornado_install_jar dev.tornadovit.sdk:tornado-runtime:local "${api/tornado-api-/tornado-runtime-}"
  tornado_install_jar dev.tornadovit:tornadovit:0.1.0-SNAPSHOT "$core" "$here/pom.xml"
  # the core's tests, whose PyTorch-fixture check the module's tests reuse
  local core_tests="$here/target/tornadovit-0.1.0-SNAPSHOT-tests.jar"
  [ -f "$core_tests" ] && tornado_install_jar dev.tornadovit:tornadovit:0.1.0-SNAPSHOT:tests "$core_tests"
  mkdir -p "$module/target"
  printf '%s\n' "${TORNADO_JAVA_FLAGS[@]}" >"$module/target/tornado-java.argfile"
  if [ ! -f "$TORNADO_TASKS_JAR" ] || [ -n "$(find "$module/src/main" "$module/pom.xml" "$core" -newer "$TORNADO_TASKS_JAR" -print -quit)" ]; then
    echo "Building the TornadoVM backend (tornado-tasks/)..." >&2
    (cd "$module" && mvn -q -B -DskipTests package) >&2
  fi
}

tornado_test() {
  local here="$1"
  tornado_prepare "$here"
  local module="$here/tornado-tasks"
  local devices
  devices=$("$JAVA_HOME/bin/java" "${TORNADO_JAVA_FLAGS[@]}" -cp "$here/target/tornadovit.jar:$TORNADO_TASKS_JAR" \
    dev.tornadovit.tornado.TornadoDevices --ids) || { echo "TornadoVM found no device" >&2; return 1; }
  local failed=0 device
  for device in $devices; do
    echo "== TornadoVM backend tests on $device"
    # PoCL compiles in its cache folder; a private one under target/, since other jobs may clean /tmp meanwhile.
    local cache
    mkdir -p "$module/target"
    cache=$(mktemp -d "$module/target/pocl-cache.XXXXXX")
    if ! (cd "$module" && POCL_CACHE_DIR="$cache" mvn -B -ntp test -Dtornadovit.test.device="$device"); then
      failed=1
    fi
    rm -rf "$cache"
  done
  return $failed
}
