#ifndef DOOZER_CLZ4_SHIM_H
#define DOOZER_CLZ4_SHIM_H
#include <lz4.h>
#endif
