bc_test(client_store_test SOURCES client_store_test.cpp DEPS bc_client_store)
