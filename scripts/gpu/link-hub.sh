# Sourced by the GPU scripts (gpu-tests.sh, bench.sh), with $g the pack's folder (/root/gpu).
# The pack carries scripts/ and models/ there, while the committed clips and their features
# live in nos-hub/: make_whisper.py's checks and the Whisper tests read them beside the models
# (models/../nos-hub/...). The device call runs in a copy of the repository, so link its nos-hub.
[ -e "$g/nos-hub" ] || [ ! -d "$PWD/nos-hub" ] || ln -s "$PWD/nos-hub" "$g/nos-hub"
