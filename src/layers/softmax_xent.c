/* Softmax cross-entropy on logits z [classes][n]:
 *     loss_i = log sum_k exp(z_ki) - z_{y_i i},   dz_ki = scale * (p_ki - [k = y_i])
 * computed with the max subtracted, in double. */
#include <math.h>
#include "layers.h"

double softmax_xent(const float *logits, const int *labels, int classes, int n,
                    float scale, float *dlogits, long *correct)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        float zmax = logits[i];
        for (int k = 1; k < classes; k++)
            if (logits[(size_t)k * n + i] > zmax) { zmax = logits[(size_t)k * n + i]; best = k; }
        double sum = 0.0;
        for (int k = 0; k < classes; k++) sum += exp((double)logits[(size_t)k * n + i] - zmax);
        total += log(sum) - ((double)logits[(size_t)labels[i] * n + i] - zmax);
        if (correct && best == labels[i]) (*correct)++;
        if (!dlogits) continue;
        for (int k = 0; k < classes; k++) {
            double p = exp((double)logits[(size_t)k * n + i] - zmax) / sum;
            dlogits[(size_t)k * n + i] = (float)(scale * (p - (k == labels[i])));
        }
    }
    return total;
}
