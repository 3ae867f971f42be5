bc_test(protocol_payload_test SOURCES payload_test.cpp DEPS bc_protocol bc_crypto bc_wire LABELS protocol)
bc_test(protocol_transcript_test SOURCES transcript_test.cpp DEPS bc_protocol bc_crypto bc_wire
        LABELS protocol)
target_include_directories(protocol_transcript_test PRIVATE ${PROJECT_SOURCE_DIR}/tests)
