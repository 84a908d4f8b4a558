// 2-D convolutions of channels-last images on cuDNN (CUDA twin of
// src/cpu/conv2d.c): the patch convolution (kernel = stride = p) and the
// depthwise K x K convolution (groups = C, zero padding K/2). Tensors are NHWC,
// filters keep torch's [C_out, C_in/groups, K, K] (cuDNN's NCHW filter format).
//
// Algorithms: cuDNN's own ranking (cudnnGet*Algorithm_v7), keeping the first
// one that is deterministic, so a step is bit-reproducible on one GPU. The
// backward passes accumulate with beta = 1 (ops.h: backward adds). The bias
// gradient is the deterministic column sum of the linear layer. Math: FP32
// is strict (FMA math); TF32 and BF16 let cuDNN use TF32 tensor cores (the
// convolutions are not run in bf16).
// Plans (descriptors + algorithms) are cached per shape; workspace is scratch
// slot 1 (slot 0 belongs to the bias sums).
#include <cudnn.h>
#include <string.h>

#include "cuda/common.cuh"


#define CUDNN_CHECK(call)                                                                   \
    do {                                                                                    \
        cudnnStatus_t s_ = (call);                                                          \
        if (s_ != CUDNN_STATUS_SUCCESS)                                                     \
            am_die(__FILE__, __LINE__, "cuDNN %s (in %s)", cudnnGetErrorString(s_), #call); \
    } while (0)

static cudnnHandle_t g_cudnn;
static cudaStream_t g_cudnn_stream;

static cudnnHandle_t cudnn(void) {
    if (!g_cudnn) CUDNN_CHECK(cudnnCreate(&g_cudnn));
    if (g_cudnn_stream != cuda_stream()) {
        CUDNN_CHECK(cudnnSetStream(g_cudnn, cuda_stream()));
        g_cudnn_stream = cuda_stream();
    }
    return g_cudnn;
}

typedef struct {
    int B, H, W, Ci, Co, K, stride, pad, groups, math;
    int Ho, Wo;
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    size_t ws_fwd, ws_data, ws_filter;
} ConvPlan;

enum { MAX_PLANS = 64 };
static ConvPlan g_plans[MAX_PLANS];
static int g_nplans;

static int math_of_precision(void) { return cuda_precision() == OPS_FP32 ? 0 : 1; }

static void choose_algorithms(ConvPlan *p) {
    cudnnHandle_t h = cudnn();
    enum { N_ALGO = 16 };
    int got = 0, found = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd[N_ALGO];
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y, N_ALGO, &got, fwd));
    for (int i = 0; i < got && !found; i++)
        if (fwd[i].status == CUDNN_STATUS_SUCCESS && fwd[i].determinism == CUDNN_DETERMINISTIC) {
            p->fwd = fwd[i].algo;
            found = 1;
        }
    CHECK(found, "cuDNN offers no deterministic forward algorithm for conv %dx%d groups %d", p->K, p->K, p->groups);
    cudnnConvolutionBwdDataAlgoPerf_t bd[N_ALGO];
    found = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->conv, p->x, N_ALGO, &got, bd));
    for (int i = 0; i < got && !found; i++)
        if (bd[i].status == CUDNN_STATUS_SUCCESS && bd[i].determinism == CUDNN_DETERMINISTIC) {
            p->bwd_data = bd[i].algo;
            found = 1;
        }
    CHECK(found, "cuDNN offers no deterministic backward-data algorithm for conv %dx%d groups %d", p->K, p->K, p->groups);
    cudnnConvolutionBwdFilterAlgoPerf_t bf[N_ALGO];
    found = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->conv, p->w, N_ALGO, &got, bf));
    for (int i = 0; i < got && !found; i++)
        if (bf[i].status == CUDNN_STATUS_SUCCESS && bf[i].determinism == CUDNN_DETERMINISTIC) {
            p->bwd_filter = bf[i].algo;
            found = 1;
        }
    CHECK(found, "cuDNN offers no deterministic backward-filter algorithm for conv %dx%d groups %d", p->K, p->K, p->groups);
    CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->conv, p->y, p->fwd, &p->ws_fwd));
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, p->conv, p->x, p->bwd_data, &p->ws_data));
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->x, p->y, p->conv, p->w, p->bwd_filter, &p->ws_filter));
}

// The cached plan of one convolution shape (created on first use).
static ConvPlan *conv_plan(int B, int H, int W, int Ci, int Co, int K, int stride, int pad, int groups) {
    const int math = math_of_precision();
    for (int i = 0; i < g_nplans; i++) {
        ConvPlan *p = &g_plans[i];
        if (p->B == B && p->H == H && p->W == W && p->Ci == Ci && p->Co == Co && p->K == K &&
            p->stride == stride && p->pad == pad && p->groups == groups && p->math == math)
            return p;
    }
    CHECK(g_nplans < MAX_PLANS, "conv2d: more than %d convolution shapes in one process", MAX_PLANS);
    ConvPlan *p = &g_plans[g_nplans++];
    memset(p, 0, sizeof *p);
    p->B = B, p->H = H, p->W = W, p->Ci = Ci, p->Co = Co, p->K = K;
    p->stride = stride, p->pad = pad, p->groups = groups, p->math = math;
    p->Ho = (H + 2 * pad - K) / stride + 1;
    p->Wo = (W + 2 * pad - K) / stride + 1;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, B, Ci, H, W));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, B, Co, p->Ho, p->Wo));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, Co, 1, 1));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, Co, Ci / groups, K, K));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, pad, pad, stride, stride, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv, groups));
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, math ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    choose_algorithms(p);
    return p;
}

static void *workspace(size_t bytes) { return bytes ? (void *)cuda_ops_scratch(1, bytes / sizeof(float) + 1) : NULL; }

static void conv_forward(ConvPlan *p, float *out, const float *in, const float *w, const float *b) {
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(cudnn(), &one, p->x, in, p->w, w, p->conv, p->fwd,
                                        workspace(p->ws_fwd), p->ws_fwd, &zero, p->y, out));
    if (b) CUDNN_CHECK(cudnnAddTensor(cudnn(), &one, p->bias, b, &one, p->y, out));
}

static void conv_backward(ConvPlan *p, float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w) {
    const float one = 1.0f;
    if (din)
        CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn(), &one, p->w, w, p->y, dout, p->conv, p->bwd_data,
                                                 workspace(p->ws_data), p->ws_data, &one, p->x, din));
    if (dw)
        CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn(), &one, p->x, in, p->y, dout, p->conv, p->bwd_filter,
                                                   workspace(p->ws_filter), p->ws_filter, &one, p->w, dw));
    if (db) cuda_colsum_acc(db, dout, p->B * p->Ho * p->Wo, p->Co);
}

static void check_patch(int B, int H, int W, int C_in, int C_out, int p) {
    CHECK(B >= 0 && H > 0 && W > 0 && C_in > 0 && C_out > 0 && p > 0,
          "patch_conv2d: bad shape B %d H %d W %d C_in %d C_out %d p %d", B, H, W, C_in, C_out, p);
    CHECK(H % p == 0 && W % p == 0,
          "patch_conv2d: image %dx%d is not a multiple of the patch size %d", H, W, p);
}

extern "C" void cuda_op_patch_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                                             int B, int H, int W, int C_in, int C_out, int p) {
    check_patch(B, H, W, C_in, C_out, p);
    if (B == 0) return;
    conv_forward(conv_plan(B, H, W, C_in, C_out, p, p, 0, 1), out, in, w, b);
}

extern "C" void cuda_op_patch_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                                              const float *in, const float *w, int B, int H, int W,
                                              int C_in, int C_out, int p) {
    check_patch(B, H, W, C_in, C_out, p);
    if (B == 0) return;
    conv_backward(conv_plan(B, H, W, C_in, C_out, p, p, 0, 1), din, dw, db, dout, in, w);
}

static void check_dw(int B, int H, int W, int C, int K) {
    CHECK(B >= 0 && H > 0 && W > 0 && C > 0 && K > 0 && K % 2 == 1,
          "dwconv2d: bad shape B %d H %d W %d C %d K %d (K must be odd)", B, H, W, C, K);
}

extern "C" void cuda_op_dwconv2d_forward(float *out, const float *in, const float *w, const float *b,
                                         int B, int H, int W, int C, int K) {
    check_dw(B, H, W, C, K);
    if (B == 0) return;
    conv_forward(conv_plan(B, H, W, C, C, K, 1, K / 2, C), out, in, w, b);
}

extern "C" void cuda_op_dwconv2d_backward(float *din, float *dw, float *db, const float *dout,
                                          const float *in, const float *w, int B, int H, int W, int C,
                                          int K) {
    check_dw(B, H, W, C, K);
    if (B == 0) return;
    conv_backward(conv_plan(B, H, W, C, C, K, 1, K / 2, C), din, dw, db, dout, in, w);
}
