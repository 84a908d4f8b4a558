// The loader's collective reads (see loader_internal.h): HDF5 H5Dread with
// H5FD_MPIO_COLLECTIVE, or, for contiguous datasets, MPI_File_read_at_all on
// the dataset's file offsets; and opening/closing the shards for them.
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "data/format/dataset_h5.h"
#include "data/loader/loader_internal.h"

// Collective read of the union of [start, start+count) row ranges of d (rows
// of `width` floats) into dst, in ascending row order. Every rank calls it for
// every shard, with n_runs possibly 0.
int loader_read_rows(struct Loader *l, Slot *s, hid_t d, const char *what, const char *path, const hsize_t *starts,
                     const hsize_t *counts, int n_runs, int rank, hsize_t width, float *dst, AmError *err) {
    hid_t fs = H5Dget_space(d), ms = -1;
    int ok = fs >= 0;
    hsize_t total = 0;
    if (ok && n_runs == 0) {
        ok = H5Sselect_none(fs) >= 0;
        hsize_t one = 1;
        ok = ok && (ms = H5Screate_simple(1, &one, NULL)) >= 0 && H5Sselect_none(ms) >= 0;
    } else if (ok) {
        for (int r = 0; ok && r < n_runs; r++) {
            hsize_t st[3] = {starts[r], 0, 0}, ct[3] = {counts[r], rank == 3 ? 3 : width, rank == 3 ? width / 3 : 0};
            ok = H5Sselect_hyperslab(fs, r ? H5S_SELECT_OR : H5S_SELECT_SET, st, NULL, ct, NULL) >= 0;
            total += counts[r];
        }
        // The memory space has the file's rank and trailing dims: HDF5 then maps
        // the selection to chunks by hyperslab spans, not element by element.
        hsize_t md[3] = {total, rank == 3 ? 3 : width, rank == 3 ? width / 3 : 0};
        ok = ok && (ms = H5Screate_simple(rank, md, NULL)) >= 0;
    }
    const double t0 = am_now_s();
    ok = ok && H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, l->dxpl, dst) >= 0;
    s->read_seconds += am_now_s() - t0;
    h5_close_id(&ms);
    h5_close_id(&fs);
    if (!ok) {
        char msg[96];
        snprintf(msg, sizeof msg, "collective read of %s failed", what);
        return h5_fail(err, path, msg);
    }
    if (n_runs > 0) {
        H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
        if (H5Pget_mpio_actual_io_mode(l->dxpl, &mode) >= 0) {
            s->last_io_mode = (int)mode;
            s->collective_reads += mode != H5D_MPIO_NO_COLLECTIVE;
        }
        s->reads++;
        s->bytes_read += (double)(total * width * sizeof(float));
    }
    return 0;
}

// Tells the kernel about every run before the (sequential) collective read, so
// the device sees many requests at once instead of one ~31 kB row at a time:
// with a cold page cache that is what bounds the loader (benchmarks/results/io.md).
void loader_advise_runs(int fd, MPI_Offset base, const hsize_t *starts, const hsize_t *counts, int n_runs,
                        size_t row_bytes) {
    if (fd < 0) return;
    for (int r = 0; r < n_runs; r++)
        (void)posix_fadvise(fd, (off_t)(base + (MPI_Offset)(starts[r] * row_bytes)), (off_t)(counts[r] * row_bytes),
                            POSIX_FADV_WILLNEED);  // advice only: failure changes nothing
}

// Collective MPI-IO read of the union of [start, start+count) runs of rows of
// row_bytes bytes, starting at file offset base, in ascending row order: row
// i of the sequence goes to dst[i] (any order in memory) or, with dst NULL,
// to contig + i * row_bytes. Every rank calls it for every shard.
int loader_read_direct(struct Loader *l, Slot *s, MPI_File fh, MPI_Offset base, const char *what, const char *path,
                       const hsize_t *starts, const hsize_t *counts, int n_runs, size_t row_bytes, float *const *dst,
                       float *contig, AmError *err) {
    MPI_Datatype row = MPI_DATATYPE_NULL, ft = MPI_DATATYPE_NULL, mt = MPI_DATATYPE_NULL;
    int ok = MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &row) == MPI_SUCCESS && MPI_Type_commit(&row) == MPI_SUCCESS;
    int64_t total = 0;
    for (int r = 0; r < n_runs; r++) total += (int64_t)counts[r];
    int *len = NULL;
    MPI_Aint *disp = NULL;
    if (ok && n_runs > 0) {
        const size_t m = (size_t)(total > n_runs ? total : n_runs);
        len = malloc((size_t)n_runs * sizeof *len);
        disp = malloc(m * sizeof *disp);
        CHECK(len && disp, "out of memory (loader selection)");
        for (int r = 0; r < n_runs; r++) {
            len[r] = (int)counts[r];
            disp[r] = (MPI_Aint)(starts[r] * row_bytes);
        }
        ok = MPI_Type_create_hindexed(n_runs, len, disp, row, &ft) == MPI_SUCCESS && MPI_Type_commit(&ft) == MPI_SUCCESS;
        if (ok && dst) {
            for (int64_t i = 0; i < total; i++) MPI_Get_address(dst[i], &disp[i]);
            ok = MPI_Type_create_hindexed_block((int)total, 1, disp, row, &mt) == MPI_SUCCESS &&
                 MPI_Type_commit(&mt) == MPI_SUCCESS;
        }
    }
    const double t0 = am_now_s();
    ok = ok && MPI_File_set_view(fh, base, MPI_BYTE, n_runs > 0 ? ft : MPI_BYTE, "native", MPI_INFO_NULL) ==
                   MPI_SUCCESS;
    if (ok) {
        MPI_Status st;
        if (n_runs == 0)
            ok = MPI_File_read_at_all(fh, 0, NULL, 0, MPI_BYTE, &st) == MPI_SUCCESS;
        else if (dst)
            ok = MPI_File_read_at_all(fh, 0, MPI_BOTTOM, 1, mt, &st) == MPI_SUCCESS;
        else
            ok = MPI_File_read_at_all(fh, 0, contig, (int)total, row, &st) == MPI_SUCCESS;
    }
    s->read_seconds += am_now_s() - t0;
    if (mt != MPI_DATATYPE_NULL) MPI_Type_free(&mt);
    if (ft != MPI_DATATYPE_NULL) MPI_Type_free(&ft);
    if (row != MPI_DATATYPE_NULL) MPI_Type_free(&row);
    free(len);
    free(disp);
    if (!ok) return am_error_set(err, "%s: collective MPI-IO read of %s failed", path, what);
    if (n_runs > 0) {
        s->direct_reads++;
        s->bytes_read += (double)total * (double)row_bytes;
    }
    return 0;
}

// Whether d (rank `rank`, rows of 3 x ...) is stored as one contiguous block of
// native floats; then *off is its byte offset in the file.
static int direct_offset(hid_t d, int rank, MPI_Offset *off) {
    hid_t dcpl = H5Dget_create_plist(d), t = H5Dget_type(d), sp = H5Dget_space(d);
    hsize_t dims[3] = {0, 0, 0};
    const int ok = dcpl >= 0 && t >= 0 && sp >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS &&
                   H5Pget_external_count(dcpl) == 0 && H5Tequal(t, H5T_NATIVE_FLOAT) > 0 &&
                   H5Sget_simple_extent_ndims(sp) == rank && H5Sget_simple_extent_dims(sp, dims, NULL) == rank &&
                   dims[1] == 3 && (rank == 2 || dims[2] == SPEC_LEN);
    const haddr_t a = ok ? H5Dget_offset(d) : HADDR_UNDEF;
    h5_close_id(&sp);
    h5_close_id(&t);
    h5_close_id(&dcpl);
    *off = (MPI_Offset)a;
    return ok && a != HADDR_UNDEF;
}

int loader_mpio_open(struct Loader *l, AmError *err) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_mpio(fapl, l->mpi, MPI_INFO_NULL) < 0 || H5Pset_all_coll_metadata_ops(fapl, 1) < 0) {
        h5_close_id(&fapl);
        return h5_fail(err, l->path, "cannot set up the MPI-IO file driver");
    }
    int rc = 0;
    for (int i = 0; i < l->n_sh && !rc; i++) {
        LoaderShard *S = &l->sh[i];
        S->file = H5Fopen(S->info.path, H5F_ACC_RDONLY, fapl);
        if (S->file < 0) {
            rc = h5_fail(err, S->info.path, "cannot open with the MPI-IO driver");
            break;
        }
        S->d_spec = H5Dopen2(S->file, "spectra", H5P_DEFAULT);
        S->d_vals = H5Dopen2(S->file, "photometry/values", H5P_DEFAULT);
        if (S->d_spec < 0 || S->d_vals < 0) rc = h5_fail(err, S->info.path, "cannot open /spectra or /photometry/values");
    }
    h5_close_id(&fapl);
    for (int i = 0; i < l->n_sh && !rc; i++) {  // the same decision on every rank: same files
        LoaderShard *S = &l->sh[i];
        if (l->cfg.io == LOADER_IO_AUTO && direct_offset(S->d_spec, 3, &S->off_spec) && direct_offset(S->d_vals, 2, &S->off_vals) &&
            MPI_File_open(l->mpi, S->info.path, MPI_MODE_RDONLY, MPI_INFO_NULL, &S->fh) != MPI_SUCCESS) {
            S->fh = MPI_FILE_NULL;
            rc = am_error_set(err, "%s: cannot open with MPI-IO", S->info.path);
        }
        if (S->fh != MPI_FILE_NULL) S->fd = open(S->info.path, O_RDONLY);  // -1: no advice, still correct
    }
    if (!rc) {
        l->dxpl = H5Pcreate(H5P_DATASET_XFER);
        if (l->dxpl < 0 || H5Pset_dxpl_mpio(l->dxpl, H5FD_MPIO_COLLECTIVE) < 0)
            rc = h5_fail(err, l->path, "cannot request collective transfers");
    }
    return rc;
}

void loader_mpio_close(struct Loader *l) {
    for (int i = 0; i < l->n_sh; i++) {
        if (l->sh[i].fh != MPI_FILE_NULL) MPI_File_close(&l->sh[i].fh);
        if (l->sh[i].fd >= 0) close(l->sh[i].fd);
        l->sh[i].fd = -1;
        h5_close_id(&l->sh[i].d_spec);
        h5_close_id(&l->sh[i].d_vals);
        h5_close_id(&l->sh[i].file);
    }
    h5_close_id(&l->dxpl);
}
