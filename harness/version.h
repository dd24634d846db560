#ifndef WM_VERSION_H
#define WM_VERSION_H
#define WMBENCH_VERSION "0.1.0"
#endif
