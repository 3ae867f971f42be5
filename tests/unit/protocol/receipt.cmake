# Unit tests of relay receipts.
bc_test(protocol_receipt_test SOURCES receipt_test.cpp DEPS bc_receipt bc_crypto LABELS protocol)
