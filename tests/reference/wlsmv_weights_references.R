# Reference fits of ordinal items with sampling weights and clusters: the bfi
# A/C model on items declared ordered, with a weight column `w` (from row
# number, age and gender) and a cluster id `org` (from age and row number).
#
# The script first writes tests/reference/wlsmv_weights_data.csv (the bfi
# rows with the two added columns) and then fits what it reads back, so R and
# Python read the same text.
#
# lavaan 0.6.14 uses the sampling weights in every step of an ordinal fit but
# ignores `cluster` for ordinal items: its Gamma (NACOV) and therefore its
# standard errors and scaled tests are those of the unclustered fit (checked
# below). The clustered references use the rule of the lavaan development
# version 0.7-2 (R/lav_muthen1984.R, R/lav_samplestats.R): the weighted
# casewise scores of muthen1984() are summed within clusters before their
# cross product is taken, Gamma gets the factor G / (G - 1) for G clusters,
# and the DWLS weights stay those of the unclustered Gamma. This script
# computes that Gamma from lavaan 0.6.14's own scores and bread (A11, A21,
# A22) and hands it to cfa() as NACOV, with WLS.V set to the unclustered
# weights, so lavaan 0.6.14 does the second stage, the standard errors and
# the tests.
#
# Run from the repository root:  Rscript tests/reference/wlsmv_weights_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})

data_file <- "wlsmv_weights_data.csv"
data_path <- file.path(reference_dir, data_file)


# Data -------------------------------------------------------------------------

local({
  bfi <- read_project_csv("bfi.csv")
  row <- seq_len(nrow(bfi))
  keep <- c("id", paste0("A", 1:5), paste0("C", 1:5), "gender", "age")
  out <- bfi[, keep]
  # Weights vary with the row number (a cycle of 7), rise with age and are
  # 1.5 times larger for women (gender 2), so the weighted statistics differ
  # visibly from the unweighted ones. Four decimals keep the CSV text short.
  out$w <- round((0.5 + (row %% 7) / 4) * (1 + out$age / 50) *
                   ifelse(out$gender == 2, 1.5, 1), 4)
  # 216 clusters of 1 to 55 rows (213 after listwise deletion): the rows of
  # one age split by row number modulo 4. Responses of people of the same age
  # are alike, so the cluster-robust Gamma differs from the unclustered one.
  out$org <- sprintf("age%02d_%d", out$age, row %% 4L)
  write.csv(out, data_path, row.names = FALSE, na = "")
  message("wrote ", data_path)
})

env <- new.env()
env$bfi_w <- read.csv(data_path, stringsAsFactors = FALSE, na.strings = "")
env$ac_items <- c(paste0("A", 1:5), paste0("C", 1:5))
env$ac_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5"

data_preparation <- paste(
  "bfi rows with id, A1-A5, C1-C5, gender, age and the added columns",
  "w = round((0.5 + (row % 7) / 4) * (1 + age / 50) * ifelse(gender == 2, 1.5, 1), 4)",
  "and org = sprintf('age%02d_%d', age, row % 4), row = 1, 2, ... in bfi.csv;",
  "written to tests/reference/wlsmv_weights_data.csv"
)


# Cluster-robust Gamma ----------------------------------------------------------

# Gamma of every group of `fit` (a fit with cluster = "org", whose own Gamma
# ignores the clusters) by the lavaan 0.7-2 rule, and the DWLS weight matrix of
# the unclustered Gamma.
cluster_moments <- function(fit) {
  lavdata <- fit@Data
  ngroups <- lavdata@ngroups
  nacov <- vector("list", ngroups)
  wls_v <- vector("list", ngroups)
  nclusters <- integer(ngroups)
  own_gamma <- lavInspect(fit, "gamma")
  if (ngroups == 1L) own_gamma <- list(own_gamma)
  for (g in seq_len(ngroups)) {
    names <- lavdata@ov.names[[g]]
    ov <- lavdata@ov
    index <- match(names, ov$name)
    weights <- lavdata@weights[[g]]
    steps <- lavaan:::muthen1984(
      Data = lavdata@X[[g]], ov.names = names, ov.types = ov$type[index],
      ov.levels = ov$nlev[index], wt = weights, WLS.W = TRUE,
      zero.add = c(0.5, 0), zero.keep.margins = TRUE, group = g
    )
    nobs <- if (is.null(weights)) nrow(lavdata@X[[g]]) else sum(weights)
    independent <- steps$WLS.W * nobs
    # The scores reproduce lavaan's own (unclustered) Gamma.
    own <- unclass(own_gamma[[g]])
    stopifnot(max(abs(independent - own)) <= 1e-12 * max(abs(own)))

    a11_inverse <- solve(steps$A11)
    a22_inverse <- diag(1 / diag(steps$A22), nrow = nrow(steps$A22))
    a21_inverse <- -a22_inverse %*% steps$A21 %*% a11_inverse
    b_inverse <- rbind(
      cbind(a11_inverse, matrix(0, nrow(a11_inverse), ncol(a22_inverse))),
      cbind(a21_inverse, a22_inverse)
    )
    # Rows of SC are the weighted casewise scores (w_i s_i).
    cluster_index <- lavdata@Lp[[g]]$cluster.idx[[2]]
    summed <- rowsum(steps$SC, cluster_index, reorder = FALSE)
    count <- nrow(summed)
    nacov[[g]] <- b_inverse %*% crossprod(summed) %*% t(b_inverse) * nobs *
      count / (count - 1)
    wls_v[[g]] <- diag(1 / diag(independent), nrow = nrow(independent))
    nclusters[g] <- count
  }
  list(nacov = nacov, wls_v = wls_v, nclusters = nclusters)
}

# lavaan 0.6.14 ignores `cluster` for ordinal items: the clustered call gives
# the same Gamma, standard errors and tests as the call without it.
local({
  with_cluster <- cfa(env$ac_model, data = env$bfi_w, ordered = env$ac_items,
                      sampling.weights = "w", cluster = "org")
  without <- cfa(env$ac_model, data = env$bfi_w, ordered = env$ac_items,
                 sampling.weights = "w")
  stopifnot(isTRUE(all.equal(lavInspect(with_cluster, "gamma"),
                             lavInspect(without, "gamma"))))
  stopifnot(isTRUE(all.equal(parameterEstimates(with_cluster)$se,
                             parameterEstimates(without)$se)))
  stopifnot(isTRUE(all.equal(fitMeasures(with_cluster, "chisq.scaled"),
                             fitMeasures(without, "chisq.scaled"))))

  # Handing lavaan its own Gamma as NACOV and the DWLS weights as WLS.V
  # reproduces its fit, so the clustered fits below differ only by Gamma.
  gamma <- lavInspect(without, "gamma")
  again <- cfa(env$ac_model, data = env$bfi_w, ordered = env$ac_items,
               sampling.weights = "w", NACOV = list(gamma),
               WLS.V = list(diag(1 / diag(gamma))))
  stopifnot(isTRUE(all.equal(parameterEstimates(again)$se,
                             parameterEstimates(without)$se, tolerance = 1e-10)))
  stopifnot(isTRUE(all.equal(fitMeasures(again), fitMeasures(without),
                             tolerance = 1e-10)))
})


# Fits -------------------------------------------------------------------------

gamma_extra <- function(fit) {
  gamma <- lavInspect(fit, "gamma")
  wls_v <- lavInspect(fit, "wls.v")
  if (lavInspect(fit, "ngroups") == 1L) {
    return(list(gamma = matrix_record(gamma),
                wls_v_diagonal = I(as.numeric(diag(wls_v)))))
  }
  list(gamma = lapply(gamma, matrix_record),
       wls_v_diagonal = lapply(wls_v, function(w) I(as.numeric(diag(w)))))
}

weighted_options <- function(estimator, ...) {
  c(list(ordered = I(env$ac_items), estimator = estimator,
         sampling.weights = "w"), list(...))
}

fit_and_write(
  "wlsmv_weights_weighted",
  paste("bfi 2-factor CFA on A1-A5 and C1-C5 declared ordered, sampling",
        "weights w, estimator WLSMV, listwise"),
  paste('cfa(ac_model, data = bfi_w, ordered = ac_items, estimator = "WLSMV",',
        'sampling.weights = "w")'),
  env$ac_model, env,
  options = weighted_options("WLSMV"),
  data_file = data_file, data_preparation = data_preparation,
  extra = gamma_extra
)

fit_and_write(
  "wlsmv_weights_dwls_weighted",
  paste("bfi 2-factor CFA on A1-A5 and C1-C5 declared ordered, sampling",
        "weights w, estimator DWLS, listwise"),
  paste('cfa(ac_model, data = bfi_w, ordered = ac_items, estimator = "DWLS",',
        'sampling.weights = "w")'),
  env$ac_model, env,
  options = weighted_options("DWLS"),
  data_file = data_file, data_preparation = data_preparation
)

fit_and_write(
  "wlsmv_weights_weighted_gender",
  paste("bfi 2-factor CFA on A1-A5 and C1-C5 declared ordered, two groups by",
        "gender, sampling weights w (normalised within each group, as",
        "lio_validate normalises them), estimator WLSMV, listwise"),
  paste('cfa(ac_model, data = bfi_w, ordered = ac_items, estimator = "WLSMV",',
        'sampling.weights = "w", group = "gender",',
        'sampling.weights.normalization = "group")'),
  env$ac_model, env,
  options = weighted_options("WLSMV", group = "gender"),
  data_file = data_file, data_preparation = data_preparation,
  extra = function(fit) {
    c(gamma_extra(fit)["wls_v_diagonal"],
      list(sum_weights = I(vapply(fit@SampleStats@nobs, identity, 0))))
  }
)

clustered_fit <- function(name, description, estimator, weighted) {
  weights_text <- if (weighted) ', sampling.weights = "w"' else ""
  # The first stage does not depend on the estimator. WLSMV makes lavaan
  # 0.6.14 compute its Gamma, which cluster_moments() checks against.
  plain_call <- sprintf(
    'cfa(ac_model, data = bfi_w, ordered = ac_items, estimator = "WLSMV"%s, cluster = "org")',
    weights_text)
  moments <- cluster_moments(eval(parse(text = plain_call), envir = env))
  if (estimator == "ULSMV") {
    moments$wls_v <- lapply(moments$wls_v, function(w) diag(nrow(w)))
  }
  object <- paste0("moments_", name)
  assign(object, moments, envir = env)
  r_call <- sprintf(
    paste0('cfa(ac_model, data = bfi_w, ordered = ac_items, estimator = "%s"%s, ',
           'cluster = "org", NACOV = %s$nacov, WLS.V = %s$wls_v)'),
    estimator, weights_text, object, object)
  options <- list(ordered = I(env$ac_items), estimator = estimator, cluster = "org")
  if (weighted) options$sampling.weights <- "w"
  fit_and_write(
    name, description, r_call, env$ac_model, env, options = options,
    data_file = data_file,
    data_preparation = paste(
      data_preparation, "; NACOV: cluster-robust Gamma computed by",
      "cluster_moments() in wlsmv_weights_references.R (lavaan 0.7-2 rule)"),
    extra = function(fit) {
      stored <- gamma_extra(fit)
      # The ULSMV fit has the same Gamma as the weighted WLSMV one.
      if (estimator == "ULSMV") stored$gamma <- NULL
      c(stored, list(nclusters = I(moments$nclusters), plain_call = plain_call))
    }
  )
}

clustered_fit(
  "wlsmv_weights_cluster",
  paste("bfi 2-factor CFA on A1-A5 and C1-C5 declared ordered, clusters org",
        "(cluster-robust Gamma), estimator WLSMV, listwise"),
  "WLSMV", weighted = FALSE
)

clustered_fit(
  "wlsmv_weights_weighted_cluster",
  paste("bfi 2-factor CFA on A1-A5 and C1-C5 declared ordered, sampling",
        "weights w and clusters org (cluster-robust Gamma), estimator WLSMV,",
        "listwise"),
  "WLSMV", weighted = TRUE
)

clustered_fit(
  "wlsmv_weights_ulsmv_weighted_cluster",
  paste("bfi 2-factor CFA on A1-A5 and C1-C5 declared ordered, sampling",
        "weights w and clusters org (cluster-robust Gamma), estimator ULSMV,",
        "listwise"),
  "ULSMV", weighted = TRUE
)
