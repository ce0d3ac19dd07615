/* The optimizers' names, one table per enum (optim.h): the config's words,
 * the checkpoints' attributes and the programs' messages all use these. */
#include <stddef.h>

#include "optim.h"

const char *const optim_names[OPT_NKINDS + 1] = {
    [OPT_INNA] = "inna", [OPT_SGD] = "sgd", [OPT_ADAM] = "adam", [OPT_ADAGRAD] = "adagrad", NULL,
};

const char *const psi0_names[PSI0_NKINDS + 1] = { [PSI0_PAPER] = "paper", [PSI0_ZERO] = "zero", NULL };

/* The state vectors in the order they are in opt->state (see each kind's
 * file): the checkpoint's group names. */
static const char *const state_names[OPT_NKINDS][2] = {
    [OPT_INNA] = { "psi" }, [OPT_SGD] = { "momentum" }, [OPT_ADAM] = { "m", "v" },
    [OPT_ADAGRAD] = { "sum" },
};

const char *optim_name(OptimKind k)
{
    return (unsigned)k < OPT_NKINDS ? optim_names[k] : "?";
}

const char *psi0_name(Psi0Kind p)
{
    return (unsigned)p < PSI0_NKINDS ? psi0_names[p] : "?";
}

const char *optim_state_name(OptimKind k, int j)
{
    return (unsigned)k < OPT_NKINDS && j >= 0 && j < 2 ? state_names[k][j] : NULL;
}
