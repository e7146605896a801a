#ifndef NEWSWIRE_CLIBDEFLATE_SHIM_H
#define NEWSWIRE_CLIBDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
