#The relay's frame codec (its own target so the relay and its clients link only what they use).
bc_library(bc_wire_relay SOURCES relay_frames.cpp DEPS bc_core)
if(BC_BUILD_FUZZ)
  target_compile_options(bc_wire_relay PRIVATE -fsanitize=fuzzer-no-link)  # coverage for libFuzzer
endif()
