#include "net/bio_method.hpp"

namespace bc::net {
namespace {

long flush_only_ctrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

int ready_on_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

}  // namespace

BIO_METHOD* new_bio_method(const char* name, int (*write)(BIO*, const char*, int),
                           int (*read)(BIO*, char*, int)) {
  BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, name);
  if (m == nullptr) return nullptr;
  if (write != nullptr) BIO_meth_set_write(m, write);
  if (read != nullptr) BIO_meth_set_read(m, read);
  BIO_meth_set_ctrl(m, flush_only_ctrl);
  BIO_meth_set_create(m, ready_on_create);
  return m;
}

}  // namespace bc::net
