/*
 * vectorAdd without the CUDA toolkit: the program of the image the default profile names
 * (nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0), built locally under that reference.
 *
 * NVIDIA's sample adds two vectors of 50,000 floats with a CUDA C++ kernel through the CUDA
 * runtime. This program does the same work on the same GPU through the CUDA *driver* API
 * (libcuda.so.1, which the NVIDIA container runtime injects from the node's driver), from a
 * kernel written in PTX that the driver JIT-compiles for whatever GPU it finds. It needs no
 * CUDA toolkit to build or run: only a C compiler and glibc. It checks every element and
 * prints what the sample prints; any CUDA error or wrong sum exits 1.
 *
 * Where libcuda.so.1 cannot be loaded, the sample's statically linked CUDA runtime fails its
 * first call with cudaErrorInsufficientDriver; this program reports that case in the same
 * words. Every other error is the driver's own (cuGetErrorString).
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef unsigned long long CUdeviceptr;

/* One 32-bit index per thread: c[i] = a[i] + b[i] for i < n. sm_50 is the oldest target the
 * current drivers JIT for; newer GPUs compile it up. */
static const char PTX[] =
    ".version 6.0\n"
    ".target sm_50\n"
    ".address_size 64\n"
    ".visible .entry vectorAdd(.param .u64 pa, .param .u64 pb, .param .u64 pc, .param .u32 pn)\n"
    "{\n"
    "  .reg .pred %p<2>;\n"
    "  .reg .b32 %r<6>;\n"
    "  .reg .f32 %f<4>;\n"
    "  .reg .b64 %rd<11>;\n"
    "  ld.param.u64 %rd1, [pa];\n"
    "  ld.param.u64 %rd2, [pb];\n"
    "  ld.param.u64 %rd3, [pc];\n"
    "  ld.param.u32 %r1, [pn];\n"
    "  mov.u32 %r2, %ctaid.x;\n"
    "  mov.u32 %r3, %ntid.x;\n"
    "  mov.u32 %r4, %tid.x;\n"
    "  mad.lo.s32 %r5, %r2, %r3, %r4;\n"
    "  setp.ge.u32 %p1, %r5, %r1;\n"
    "  @%p1 bra DONE;\n"
    "  cvta.to.global.u64 %rd4, %rd1;\n"
    "  cvta.to.global.u64 %rd5, %rd2;\n"
    "  cvta.to.global.u64 %rd6, %rd3;\n"
    "  mul.wide.u32 %rd7, %r5, 4;\n"
    "  add.s64 %rd8, %rd4, %rd7;\n"
    "  add.s64 %rd9, %rd5, %rd7;\n"
    "  add.s64 %rd10, %rd6, %rd7;\n"
    "  ld.global.f32 %f1, [%rd8];\n"
    "  ld.global.f32 %f2, [%rd9];\n"
    "  add.f32 %f3, %f1, %f2;\n"
    "  st.global.f32 [%rd10], %f3;\n"
    "DONE:\n"
    "  ret;\n"
    "}\n";

static struct {
    CUresult (*Init)(unsigned);
    CUresult (*DeviceGet)(CUdevice *, int);
    CUresult (*CtxCreate)(CUcontext *, unsigned, CUdevice);
    CUresult (*ModuleLoadData)(CUmodule *, const void *);
    CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
    CUresult (*MemAlloc)(CUdeviceptr *, size_t);
    CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
    CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
    CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, void *, void **, void **);
    CUresult (*CtxSynchronize)(void);
    CUresult (*GetErrorString)(CUresult, const char **);
} cu;

static void *must_sym(void *lib, const char *name) {
    void *sym = dlsym(lib, name);
    if (sym == NULL) {
        fprintf(stderr, "libcuda.so.1 lacks %s: %s\n", name, dlerror());
        exit(EXIT_FAILURE);
    }
    return sym;
}

/* The sample's own failure line: "Failed to <what> (error code <text>)!" then exit 1. */
static void check(CUresult result, const char *what) {
    if (result == 0) return;
    const char *text = NULL;
    if (cu.GetErrorString == NULL || cu.GetErrorString(result, &text) != 0 || text == NULL)
        text = "unknown error";
    fprintf(stderr, "Failed to %s (error code %s)!\n", what, text);
    exit(EXIT_FAILURE);
}

static void load_driver(void) {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (lib == NULL) {
        fprintf(stderr, "gpuconform vectorAdd: dlopen libcuda.so.1: %s\n", dlerror());
        fprintf(stderr,
                "Failed to allocate device vector A (error code CUDA driver version is "
                "insufficient for CUDA runtime version)!\n");
        exit(EXIT_FAILURE);
    }
    cu.GetErrorString = must_sym(lib, "cuGetErrorString");
    cu.Init = must_sym(lib, "cuInit");
    cu.DeviceGet = must_sym(lib, "cuDeviceGet");
    cu.CtxCreate = must_sym(lib, "cuCtxCreate_v2");
    cu.ModuleLoadData = must_sym(lib, "cuModuleLoadData");
    cu.ModuleGetFunction = must_sym(lib, "cuModuleGetFunction");
    cu.MemAlloc = must_sym(lib, "cuMemAlloc_v2");
    cu.MemcpyHtoD = must_sym(lib, "cuMemcpyHtoD_v2");
    cu.MemcpyDtoH = must_sym(lib, "cuMemcpyDtoH_v2");
    cu.LaunchKernel = must_sym(lib, "cuLaunchKernel");
    cu.CtxSynchronize = must_sym(lib, "cuCtxSynchronize");
}

int main(void) {
    const unsigned n = 50000;
    const size_t size = n * sizeof(float);
    printf("[Vector addition of %u elements]\n", n);
    load_driver();

    float *a = malloc(size), *b = malloc(size), *c = malloc(size);
    if (a == NULL || b == NULL || c == NULL) {
        fprintf(stderr, "Failed to allocate host vectors!\n");
        return EXIT_FAILURE;
    }
    srand(1);
    for (unsigned i = 0; i < n; ++i) {
        a[i] = rand() / (float)RAND_MAX;
        b[i] = rand() / (float)RAND_MAX;
    }

    CUdevice device;
    CUcontext context;
    CUmodule module;
    CUfunction kernel;
    CUdeviceptr da, db, dc;
    check(cu.Init(0), "initialize the CUDA driver");
    check(cu.DeviceGet(&device, 0), "get CUDA device 0");
    check(cu.CtxCreate(&context, 0, device), "create a CUDA context");
    check(cu.ModuleLoadData(&module, PTX), "load the vectorAdd kernel (PTX JIT)");
    check(cu.ModuleGetFunction(&kernel, module, "vectorAdd"), "find the vectorAdd kernel");
    check(cu.MemAlloc(&da, size), "allocate device vector A");
    check(cu.MemAlloc(&db, size), "allocate device vector B");
    check(cu.MemAlloc(&dc, size), "allocate device vector C");

    printf("Copy input data from the host memory to the CUDA device\n");
    check(cu.MemcpyHtoD(da, a, size), "copy vector A from host to device");
    check(cu.MemcpyHtoD(db, b, size), "copy vector B from host to device");

    const unsigned threads = 256, blocks = (n + threads - 1) / threads;
    printf("CUDA kernel launch with %u blocks of %u threads\n", blocks, threads);
    unsigned count = n;
    void *args[] = {&da, &db, &dc, &count};
    check(cu.LaunchKernel(kernel, blocks, 1, 1, threads, 1, 1, 0, NULL, args, NULL),
          "launch vectorAdd kernel");
    check(cu.CtxSynchronize(), "run vectorAdd kernel");

    printf("Copy output data from the CUDA device to the host memory\n");
    check(cu.MemcpyDtoH(c, dc, size), "copy vector C from device to host");

    for (unsigned i = 0; i < n; ++i) {
        if (fabsf(a[i] + b[i] - c[i]) > 1e-5f) {
            fprintf(stderr, "Result verification failed at element %u!\n", i);
            return EXIT_FAILURE;
        }
    }
    printf("Test PASSED\n");
    printf("Done\n");
    return 0;
}
