/* fuzz_init.h - included once by each libFuzzer target that needs no other set-up: libFuzzer calls
 * LLVMFuzzerInitialize once before the first input, so jansson allocates through util.h's hooks
 * (the allocation counters and the leak check see its memory too). */
#ifndef POSTURE_FUZZ_INIT_H
#define POSTURE_FUZZ_INIT_H

#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xalloc_install_jansson();
	return 0;
}

#endif
