#!/usr/bin/env bash
# Packs what a bare GPU machine (no Java, no Maven, no network) needs to run this module's tests and benchmark:
# a jlinked JDK 25, a copy of an already built TornadoVM SDK with its OpenCL, PTX and CUDA backends and cuBLAS module
# (nothing is built here), and the jars. NVRTC and cuBLAS themselves do not travel: gpu-run.sh finds them on the GPU
# machine. Everything goes into one xz archive, because jars, the JVM and the Graal compiler together are larger than
# what may travel; gpu-run.sh (copied beside it) unpacks and runs it. Where Open MPI 4.1 is installed, it is packed
# too, into openmpi.tar.xz (scripts/mpi-bundle.sh; MPI_BUNDLE=no leaves it out), for data-parallel CPU ranks on the GPU
# machine (gpu-cpu-ranks.sh).
#   tornado-tasks/scripts/gpu-bundle.sh SDK OUT_DIR     e.g. "$TORNADOVM_HOME" .device/tvit (from the repository root)
# Build first: ./run-tests (or mvn install at the root, then scripts/tornadovm.sh's tornado_prepare) and
# (cd tornado-tasks && mvn test-compile).
set -euo pipefail
sdk="$1" out="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
module="$here/tornado-tasks"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# The JDK: the modules TornadoVM, Graal and the code need. TornadoVM's PTX driver requires java.desktop (which
# requires java.xml, which logging needs whole) but loads nothing from it, so java.desktop keeps one resource per package (jlink insists that each
# package of a module's descriptor exists) and no native library: that halves the JDK.
python3 - "$JAVA_HOME" >"$stage/jlink.args" <<'PY'
import re, subprocess, sys
java_home = sys.argv[1]
listing = subprocess.run([java_home + "/bin/jimage", "list", java_home + "/lib/modules"], capture_output=True, text=True).stdout
module, excluded, kept = None, [], set()
for line in listing.splitlines():
    if line.startswith("Module: "):
        module = line.split()[1]
        continue
    entry = line.strip()
    if module != "java.desktop" or not entry or entry == "module-info.class" or "/" not in entry:
        continue
    package = (module, entry.rsplit("/", 1)[0])
    if package in kept:
        excluded.append("/" + module + "/" + entry)
    else:
        kept.add(package)
print("--exclude-resources=" + ",".join(excluded))
PY
"$JAVA_HOME/bin/jlink" @"$stage/jlink.args" \
  --add-modules java.base,java.logging,java.management,jdk.management,jdk.unsupported,jdk.internal.vm.ci,jdk.incubator.vector,jdk.jfr,java.desktop,java.xml,java.naming \
  --exclude-files='**/libawt*.so,**/libfontmanager.so,**/libjavajpeg.so,**/liblcms.so,**/libmlib_image.so,**/libsplashscreen.so,**/libjsound.so,**/libfreetype.so' \
  --strip-debug --no-man-pages --no-header-files --compress=zip-0 --output "$stage/jdk"
rm "$stage/jlink.args"

# The SDK, with the modules TornadoVM's runtime, its OpenCL, PTX and CUDA drivers and its cuBLAS module require, and
# nothing else (its tests, benchmarks, examples, other CUDA-library bindings, Truffle and the polyglot API are not
# loaded).
mkdir -p "$stage/sdk/share/java/tornado" "$stage/sdk/share/java/graalJars"
cp -r "$sdk/lib" "$sdk/tornado-argfile" "$stage/sdk/"
for jar in "$sdk"/share/java/tornado/*.jar; do
  case "$(basename "$jar")" in
    tornado-api-*|tornado-runtime-*|tornado-annotation-*|tornado-drivers-*|tornado-cublas-*|commons-math3-*|snmp4j-*|asm-*)
      cp "$jar" "$stage/sdk/share/java/tornado/" ;;
  esac
done
for jar in "$sdk"/share/java/graalJars/*.jar; do
  case "$(basename "$jar")" in compiler-*|collections-*|word-*|truffle-compiler-*) cp "$jar" "$stage/sdk/share/java/graalJars/" ;; esac
done

# The code: the core (thin jar), this module, both test trees, their runtime libraries and the command line's
# (picocli, logging, progress bars, charts; not the charts' PDF export, the JMH harness or the test-only jars twice).
mkdir -p "$stage/app/lib"
(cd "$module" && mvn -q -B -o dependency:build-classpath -Dmdep.outputFile="$stage/cp.txt" -Dmdep.includeScope=test) >&2
(cd "$here" && mvn -q -B -o dependency:build-classpath -Dmdep.outputFile="$stage/cli-cp.txt" -Dmdep.includeScope=runtime) >&2
{ tr ':' '\n' <"$stage/cp.txt"; echo; tr ':' '\n' <"$stage/cli-cp.txt"; echo; } \
  | grep -E 'tornadovit-0.1.0-SNAPSHOT|jackson|slf4j-api|junit|opentest4j|apiguardian|picocli|logback|xchart|progressbar|jline' \
  | sort -u | while read -r jar; do [ -n "$jar" ] && cp "$jar" "$stage/app/lib/"; done
cp "$module/target/tornadovit-tornado.jar" "$stage/app/lib/"
# the PyTorch fixtures travel in the repository already (src/test/resources/fixtures): not twice
python3 - "$stage/app/lib/tornadovit-0.1.0-SNAPSHOT-tests.jar" <<'PY'
import os, sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as src, zipfile.ZipFile(path + ".new", "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        if not info.filename.startswith("fixtures/"):
            dst.writestr(info, src.read(info.filename))
os.replace(path + ".new", path)
PY
cp -r "$module/target/test-classes" "$stage/app/test-classes"
cp "$module/scripts/gpu-run.sh" "$stage/run.sh"
cp "$module/scripts/tornado-flags.sh" "$stage/"

# Jars hold deflated entries, which xz cannot shrink further: store them uncompressed first (same entries, same order).
find "$stage" -name '*.jar' -print0 | xargs -0 python3 -c '
import sys, zipfile, os
for path in sys.argv[1:]:
    try:
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(path + ".stored", "w", zipfile.ZIP_STORED) as dst:
            for info in src.infolist():
                data = src.read(info)  # before changing info: read() decompresses by info.compress_type
                info.compress_type = zipfile.ZIP_STORED
                dst.writestr(info, data)
        os.replace(path + ".stored", path)
    except zipfile.BadZipFile as e:  # a jar Python cannot re-read exactly travels as it is
        print("kept as is:", os.path.basename(path), e, file=sys.stderr)
        os.remove(path + ".stored")
'

mkdir -p "$out"
rm -f "$stage/cp.txt" "$stage/cli-cp.txt"
tar -C "$stage" -cf - jdk sdk app run.sh tornado-flags.sh | xz -6 -T0 >"$out/bundle.tar.xz"
cp "$module/scripts/gpu-run.sh" "$out/run.sh"
cp "$module/scripts/tornado-flags.sh" "$out/"
cp "$module/scripts/pytorch_vit_bench.py" "$module/scripts/pytorch_attention_bench.py" "$module/scripts/pytorch_memory_bench.py" \
  "$module/scripts/profile-summary.py" \
  "$module/scripts/gpu-compare.sh" "$module/scripts/gpu-cpu-ranks.sh" "$module/scripts/gpu-experiments.sh" "$out/"
if [ "${MPI_BUNDLE:-yes}" != no ] && command -v ompi_info >/dev/null; then
  bash "$here/scripts/mpi-bundle.sh" "$out" >&2
fi
du -b "$out"/*
