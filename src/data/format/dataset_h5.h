// HDF5 helpers shared by the dataset writer and reader (src/data only):
// silenced error stack turned into AmError text, handle closing, attributes.
#ifndef ASTROMM_DATASET_H5_H
#define ASTROMM_DATASET_H5_H

#include <hdf5.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
    H5E_auto2_t func;
    void *data;
} H5Quiet;

void h5_quiet_on(H5Quiet *q);
void h5_quiet_off(const H5Quiet *q);
int h5_fail(AmError *err, const char *file, const char *what);
void h5_close_id(hid_t *id);
hid_t h5_vlen_str_type(void);
int h5_write_str_attr(hid_t loc, const char *name, const char *const *v, int n);
int h5_write_num_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v);
void h5_free_strs(char **v, int n);
int h5_read_str_attr(hid_t loc, const char *file, const char *obj, const char *name, char ***out, int *n_out, AmError *err);
int h5_read_int_attr(hid_t loc, const char *file, const char *name, int64_t *v, AmError *err);
// Opens dataset name of loc and gives its rank, dims (the first 4; untouched
// beyond rank 4) and whether its type is a number (integer or float). -1 with
// err naming the file when it cannot be opened.
hid_t h5_open_dataset(hid_t loc, const char *file, const char *name, int *rank, hsize_t dims[4], int *numeric,
                      AmError *err);
// Reads the whole of an open dataset into buf, converted to mtype; 0 or 1 (err
// "<file>: cannot read <name>" with HDF5's reason).
// IEEE binary16 as an HDF5 type (HDF5 before 1.14.4 has none predefined); the
// caller closes it. HDF5 1.10 rounds float32 -> this type wrongly, so writers
// convert with core/half.h and write the bits with this type as the memory type.
hid_t h5_float16_type(void);
// 1 when the dataset's type is a 2-byte float.
int h5_is_float16(hid_t ds);
// Reads count floats of the selection (ms, fs; transfer list dxpl) as float32: a float16 dataset's
// bits are read unconverted and widened by core/half.h (exact).
herr_t h5_read_floats(hid_t ds, hid_t ms, hid_t fs, hid_t dxpl, size_t count, float *out);
// Reads the whole dataset (a float16 one widened as h5_read_floats when mtype
// is H5T_NATIVE_FLOAT).
int h5_read_whole(hid_t ds, hid_t mtype, void *buf, const char *file, const char *name, AmError *err);

#endif
