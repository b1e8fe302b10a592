# Sourced by the launchers: sets JAVA_HOME to a JDK 25 or newer and puts it first on PATH, or exits with what to
# install. The machine's default java may be older (17); a JDK 25 beside it is found here.
java_major() {
  "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}
pick_jdk() {
  local candidate
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk* /usr/lib/jvm/*-25* /usr/lib/jvm/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/javac" ] || continue
    local major
    major=$(java_major "$candidate/bin/java")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then echo "$candidate"; return 0; fi
  done
  if command -v javac >/dev/null 2>&1; then
    local home
    home=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
    local major
    major=$(java_major "$home/bin/java")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then echo "$home"; return 0; fi
  fi
  return 1
}
if ! TORNADOVIT_JDK=$(pick_jdk); then
  echo "TornadoViT needs a JDK 25 or newer (it uses the Java Vector API of JDK 25)." >&2
  echo "None was found in JAVA_HOME, /usr/lib/jvm or on PATH. Install one, e.g. 'apt-get install temurin-25-jdk'" >&2
  echo "(Adoptium's apt repository) or unpack a JDK 25 and set JAVA_HOME to it." >&2
  exit 1
fi
export JAVA_HOME="$TORNADOVIT_JDK"
export PATH="$JAVA_HOME/bin:$PATH"
if ! command -v mvn >/dev/null 2>&1; then
  echo "TornadoViT builds with Apache Maven, which is not installed: 'apt-get install maven'." >&2
  exit 1
fi
