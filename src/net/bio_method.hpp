// new_bio_method: the OpenSSL BIO methods of src/net's own BIOs (internal to src/net).
#pragma once

#include <openssl/bio.h>

namespace bc::net {

// new_bio_method makes a source/sink BIO method named `name` with the given write and read
// (either may be null). Its ctrl answers BIO_CTRL_FLUSH as done and nothing else, and a BIO made
// from it is ready at once; callers keep their data in the BIO's data pointer. Null if OpenSSL
// cannot allocate it. Callers make each method once and keep it for the life of the process
// (OpenSSL may use it until exit).
[[nodiscard]] BIO_METHOD* new_bio_method(const char* name, int (*write)(BIO*, const char*, int),
                                         int (*read)(BIO*, char*, int));

}  // namespace bc::net
