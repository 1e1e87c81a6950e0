# More reference fits with ordered items: the other least-squares estimators
# (DWLS, ULS, ULSMV) on the bfi A/C model, a structural model among three
# factors, two groups, binary items, and one tetrachoric correlation from a
# 2 x 2 table with an empty cell.
#
# Run from the repository root:  Rscript tests/reference/ordinal_wls_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})

env <- new.env()
env$bfi <- read_project_csv("bfi.csv")
env$ac_items <- c(paste0("A", 1:5), paste0("C", 1:5))
env$ace_items <- c(env$ac_items, paste0("E", 1:5))

env$ac_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5"

env$ace_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
E =~ E1 + E2 + E3 + E4 + E5
C ~ A
E ~ C"

# A/C items cut into two categories: 1-3 against 4-6.
env$bfi_binary <- env$bfi
for (item in env$ac_items) {
  env$bfi_binary[[item]] <- as.integer(env$bfi[[item]] >= 4)
}

# Diagonal of the DWLS weight matrix; with groups, one array per group label.
weights_extra <- function(fit) {
  wls_v <- lavInspect(fit, "wls.v")
  if (is.list(wls_v)) {
    return(list(wls_v_diagonal = lapply(wls_v, function(w) I(as.numeric(diag(w))))))
  }
  list(wls_v_diagonal = I(as.numeric(diag(wls_v))))
}

ac_options <- function(estimator) {
  list(ordered = I(env$ac_items), estimator = estimator)
}

for (estimator in c("DWLS", "ULS", "ULSMV")) {
  fit_and_write(
    paste0("bfi_cfa2_ac_", tolower(estimator)),
    paste("bfi 2-factor CFA on A1-A5 and C1-C5 (raw items) declared ordered,",
          "estimator", estimator, "listwise"),
    sprintf('cfa(ac_model, data = bfi, ordered = ac_items, estimator = "%s")',
            estimator),
    env$ac_model, env,
    options = ac_options(estimator),
    data_file = "bfi.csv",
    extra = if (estimator == "DWLS") weights_extra else NULL
  )
}

fit_and_write(
  "bfi_cfa2_ac_wlsmv_stdlv",
  paste("bfi 2-factor CFA on A1-A5 and C1-C5 (raw items) declared ordered,",
        "latent variances fixed at 1 (std.lv = TRUE), estimator WLSMV, listwise"),
  paste('cfa(ac_model, data = bfi, ordered = ac_items, estimator = "WLSMV",',
        'std.lv = TRUE)'),
  env$ac_model, env,
  options = list(ordered = I(env$ac_items), estimator = "WLSMV", std.lv = TRUE),
  data_file = "bfi.csv"
)

fit_and_write(
  "bfi_sem3_ace_wlsmv",
  paste("bfi factors A, C and E (raw items declared ordered) with the",
        "structural paths C ~ A and E ~ C, estimator WLSMV, listwise"),
  'sem(ace_model, data = bfi, ordered = ace_items, estimator = "WLSMV")',
  env$ace_model, env,
  options = list(ordered = I(env$ace_items), estimator = "WLSMV"),
  data_file = "bfi.csv", extra = weights_extra
)

fit_and_write(
  "bfi_cfa2_ac_wlsmv_gender",
  paste("bfi 2-factor CFA on A1-A5 and C1-C5 declared ordered, two groups by",
        "gender (no equality constraints), estimator WLSMV, listwise"),
  paste('cfa(ac_model, data = bfi, ordered = ac_items, estimator = "WLSMV",',
        'group = "gender")'),
  env$ac_model, env,
  options = list(ordered = I(env$ac_items), estimator = "WLSMV",
                 group = "gender"),
  data_file = "bfi.csv", extra = weights_extra
)

fit_and_write(
  "bfi_cfa2_ac_binary_wlsmv",
  paste("bfi 2-factor CFA on A1-A5 and C1-C5 cut into two categories,",
        "declared ordered, estimator WLSMV, listwise"),
  'cfa(ac_model, data = bfi_binary, ordered = ac_items, estimator = "WLSMV")',
  env$ac_model, env,
  options = list(ordered = I(env$ac_items), estimator = "WLSMV"),
  data_file = "bfi.csv",
  data_preparation = "A1-A5 and C1-C5 recoded as as.integer(x >= 4)",
  extra = function(fit) {
    c(weights_extra(fit), list(gamma = matrix_record(lavInspect(fit, "gamma"))))
  }
)

# One tetrachoric correlation from a 2 x 2 table with an empty cell: lavaan
# adds 0.5 to the empty cell and keeps the margins (zero.add = c(0.5, 0),
# zero.keep.margins = TRUE) before estimating the correlation.
local({
  counts <- matrix(c(40, 0, 25, 35), 2, 2)  # rows x = 1, 2; columns y = 1, 2
  cells <- expand.grid(x = 1:2, y = 1:2)
  rows <- rep(seq_len(nrow(cells)), times = as.vector(counts))
  data <- data.frame(x = cells$x[rows], y = cells$y[rows])
  fit <- lavCor(data, ordered = c("x", "y"), output = "fit", estimator = "DWLS",
                se = "robust.sem")
  record <- list(
    name = "tetrachoric_empty_cell",
    description = paste("tetrachoric correlation of a 2 x 2 table with one",
                        "empty cell, from lavCor()"),
    r_call = paste('lavCor(data, ordered = c("x", "y"), output = "fit",',
                   'estimator = "DWLS", se = "robust.sem")'),
    counts = counts,
    lavaan_version = as.character(packageVersion("lavaan")),
    r_version = R.version.string,
    correlation = lavInspect(fit, "sampstat")$cov[2, 1],
    thresholds = named_vector_record(lavInspect(fit, "sampstat")$th),
    gamma = matrix_record(lavInspect(fit, "gamma"))
  )
  write_json_file(record, "tetrachoric_empty_cell.json")
})
