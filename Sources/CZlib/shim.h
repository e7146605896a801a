#ifndef NEWSWIRE_CZLIB_SHIM_H
#define NEWSWIRE_CZLIB_SHIM_H
#include <zlib.h>
#endif
