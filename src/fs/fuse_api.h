// The libfuse low-level API at the version this layer is written against
// (3.14, Debian 12). Include this instead of <fuse_lowlevel.h>.
#pragma once

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>
