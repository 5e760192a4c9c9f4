make demo   # render a video on the local emulator and print the MP4 path
make test   # lint, type-check, build these docs and run the whole test suite
