bc_test(protocol_assurance_test SOURCES assurance_test.cpp DEPS bc_protocol bc_crypto LABELS protocol)
