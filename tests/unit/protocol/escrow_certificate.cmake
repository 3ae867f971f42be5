# Unit tests of the escrow release certificate.
bc_test(protocol_escrow_certificate_test
  SOURCES escrow_certificate_test.cpp
  DEPS bc_escrow_certificate bc_crypto
  LABELS protocol relay)
