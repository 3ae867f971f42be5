# Unit tests of the relay frame codec.
bc_test(wire_relay_frames_test SOURCES relay_frames_test.cpp DEPS bc_wire_relay bc_test_support
        LABELS wire relay)
