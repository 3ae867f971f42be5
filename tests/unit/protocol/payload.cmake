bc_test(protocol_payload_test SOURCES payload_test.cpp DEPS bc_protocol bc_crypto bc_wire LABELS protocol)
