# Shared helpers for the scripts that write the lavaan reference files.
#
# Each *_references.R script sources this file, fits its models with lavaan and
# calls fit_and_write() once per fit. The JSON layout is described in
# README.md in this folder.

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

script_path <- function() {
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(file_arg) == 0L) {
    stop("run these scripts with Rscript, e.g. Rscript tests/reference/ml_references.R")
  }
  normalizePath(sub("^--file=", "", file_arg[1L]))
}

reference_dir <- dirname(script_path())
data_dir <- normalizePath(file.path(reference_dir, "..", "..", "data"))


# Data ------------------------------------------------------------------------

# Read a data file of data/ exactly as the Python side reads it: empty cells
# become NA and text columns stay character (not factor).
read_project_csv <- function(file_name) {
  read.csv(file.path(data_dir, file_name), stringsAsFactors = FALSE,
           na.strings = "")
}

bfi_items <- function() {
  paste0(rep(c("A", "C", "E", "N", "O"), each = 5), rep(1:5, times = 5))
}

# Items keyed negatively in the psych documentation of bfi.
bfi_reverse_keyed <- c("A1", "C4", "C5", "E1", "E2", "O2", "O5")

# Reverse the negatively keyed items of the 1-6 response scale (7 - x).
recode_bfi_reverse <- function(bfi) {
  for (item in bfi_reverse_keyed) {
    bfi[[item]] <- 7L - bfi[[item]]
  }
  bfi
}


# JSON writing ----------------------------------------------------------------
#
# jsonlite::toJSON prints at most 15 significant digits, even with digits = NA
# or I(17) (jsonlite 1.8.4), which does not round-trip every double. The writer
# below prints each number with the fewest of 15, 16 or 17 significant digits
# that reads back as the same double in R. NA, NaN and +-Inf become null.

format_double <- function(x) {
  out <- character(length(x))
  missing <- !is.finite(x)
  out[missing] <- "null"
  done <- missing
  for (digits in c(15L, 16L, 17L)) {
    todo <- !done
    if (!any(todo)) break
    text <- sprintf(paste0("%.", digits, "g"), x[todo])
    exact <- as.numeric(text) == x[todo] | digits == 17L
    out[which(todo)[exact]] <- text[exact]
    done[which(todo)[exact]] <- TRUE
  }
  out
}

encode_atomic <- function(x, as_array) {
  if (is.factor(x)) x <- as.character(x)
  if (is.character(x)) {
    items <- ifelse(is.na(x), "null",
                    vapply(x, function(s) as.character(toJSON(unbox(s))), ""))
  } else if (is.logical(x)) {
    items <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else if (is.numeric(x)) {
    items <- format_double(as.double(x))
  } else {
    stop("cannot write an R value of class ", class(x)[1L], " to JSON")
  }
  if (length(items) == 1L && !as_array) {
    return(items)
  }
  paste0("[", paste(items, collapse = ","), "]")
}

# Convert an R value to JSON text. Named lists and data frames become objects
# (data frames column-wise, every column an array), unnamed lists become arrays,
# matrices become arrays of rows, and length-1 vectors become scalars unless
# wrapped in I().
to_json <- function(x, indent = "") {
  inner <- paste0(indent, "  ")
  if (is.null(x)) {
    return("null")
  }
  if (is.data.frame(x)) {
    x <- lapply(as.list(x), I)
  }
  if (is.matrix(x)) {
    rows <- vapply(seq_len(nrow(x)), function(i) encode_atomic(x[i, ], TRUE), "")
    return(paste0("[\n", inner, paste(rows, collapse = paste0(",\n", inner)),
                  "\n", indent, "]"))
  }
  if (is.list(x)) {
    parts <- vapply(x, to_json, "", indent = inner)
    if (length(x) == 0L) {
      return(if (is.null(names(x))) "[]" else "{}")
    }
    if (is.null(names(x))) {
      body <- parts
    } else {
      keys <- vapply(names(x), function(s) as.character(toJSON(unbox(s))), "")
      body <- paste0(keys, ": ", parts)
    }
    open <- if (is.null(names(x))) "[" else "{"
    close <- if (is.null(names(x))) "]" else "}"
    return(paste0(open, "\n", inner, paste(body, collapse = paste0(",\n", inner)),
                  "\n", indent, close))
  }
  encode_atomic(unclass(x), inherits(x, "AsIs"))
}

write_json_file <- function(value, file_name) {
  path <- file.path(reference_dir, file_name)
  writeLines(to_json(value), path, useBytes = TRUE)
  message("wrote ", path)
  invisible(path)
}

# A matrix with its row and column names, the values as an array of rows.
matrix_record <- function(m) {
  m <- as.matrix(m)
  list(rownames = I(rownames(m)), colnames = I(colnames(m)),
       values = unname(unclass(m)))
}

empty_object <- function() setNames(list(), character(0))

named_vector_record <- function(v) {
  as.list(setNames(as.numeric(v), names(v)))
}


# Parts of a fit ---------------------------------------------------------------

group_text <- function(fit, group_index) {
  labels <- lavInspect(fit, "group.label")
  if (length(labels) == 0L) {
    return(rep("", length(group_index)))
  }
  out <- rep("", length(group_index))
  inside <- group_index >= 1L
  out[inside] <- labels[group_index[inside]]
  out
}

row_keys <- function(table) {
  group <- if (is.null(table$group)) rep(1L, nrow(table)) else table$group
  # Defined parameters belong to no group: partable stores group 0 for them.
  group[table$op == ":="] <- 0L
  paste(table$lhs, table$op, table$rhs, group, sep = "\r")
}

# parameterEstimates() rows joined with standardizedSolution() for std.all and
# std.lv (estimate and delta-method SE) and std.nox (estimate only), plus the
# partable columns free (index into vcov, 0 if fixed), exo and user.
estimates_table <- function(fit) {
  pe <- parameterEstimates(fit, remove.nonfree = FALSE)
  keys <- row_keys(pe)
  if (anyDuplicated(keys)) stop("parameter rows are not unique by lhs/op/rhs/group")

  matched_rows <- function(table, what) {
    rows <- match(keys, row_keys(table))
    if (anyNA(rows)) stop(what, " has no row for ", keys[is.na(rows)][1L])
    rows
  }
  std_columns <- function(type) {
    ss <- standardizedSolution(fit, type = type)
    ss[matched_rows(ss, type), c("est.std", "se")]
  }
  std_all <- std_columns("std.all")
  std_lv <- std_columns("std.lv")
  std_nox <- std_columns("std.nox")

  pt <- parTable(fit)
  pt_rows <- matched_rows(pt, "parTable")

  group_index <- if (is.null(pe$group)) rep(1L, nrow(pe)) else pe$group
  # parameterEstimates() drops the label column when no row has a label.
  label <- if (is.null(pe$label)) rep("", nrow(pe)) else pe$label
  data.frame(
    lhs = pe$lhs, op = pe$op, rhs = pe$rhs,
    group = group_text(fit, group_index),
    label = label,
    est = pe$est, se = pe$se, z = pe$z, pvalue = pe$pvalue,
    ci_lower = pe$ci.lower, ci_upper = pe$ci.upper,
    std_lv = std_lv$est.std, std_all = std_all$est.std,
    se_std_all = std_all$se, se_std_lv = std_lv$se,
    std_nox = std_nox$est.std,
    free = pt$free[pt_rows], exo = pt$exo[pt_rows], user = pt$user[pt_rows],
    stringsAsFactors = FALSE
  )
}

r_squared_record <- function(fit) {
  r2 <- lavInspect(fit, "r2")
  if (is.list(r2)) {
    return(lapply(r2, named_vector_record))
  }
  named_vector_record(r2)
}

# Per-group list of matrices/vectors (lavaan returns the bare object for one
# group) converted to records keyed by group label.
moments_record <- function(moments, fit) {
  one <- function(m) {
    lapply(m, function(part) {
      if (is.matrix(part)) matrix_record(part) else named_vector_record(part)
    })
  }
  if (lavInspect(fit, "ngroups") == 1L) {
    return(one(moments))
  }
  lapply(moments, one)
}

options_record <- function(fit) {
  keep <- c("estimator", "se", "test", "information", "h1.information",
            "observed.information", "likelihood", "meanstructure", "fixed.x",
            "conditional.x", "missing", "parameterization", "std.lv", "mimic",
            "group.equal", "ceq.simple", "sample.cov.rescale", "bounds",
            "optim.method", "baseline.conditional.x.free.slopes")
  options <- lavInspect(fit, "options")
  keep <- intersect(keep, names(options))
  lapply(options[keep], function(v) if (length(v) > 1L) I(v) else v)
}

test_record <- function(fit) {
  lapply(lavInspect(fit, "test"), function(one) {
    lapply(unclass(one), function(v) if (length(v) > 1L) I(as.vector(v)) else v)
  })
}

constraints_record <- function(fit) {
  pt <- parTable(fit)
  eq <- pt[pt$op %in% c("==", "<", ">"), c("lhs", "op", "rhs")]
  if (nrow(eq) == 0L) return(empty_object())
  eq
}

# Entries stored under "extra" for every fit. The scripts add more per fit.
# with_vcov = FALSE leaves out the parameter covariance matrix, which for the
# large multigroup bfi fits would take most of the file.
standard_extra <- function(fit, with_vcov = TRUE) {
  nobs <- lavInspect(fit, "nobs")
  out <- list(
    nobs = I(nobs),
    ntotal = lavInspect(fit, "ntotal"),
    norig = I(lavInspect(fit, "norig")),
    group_labels = I(lavInspect(fit, "group.label")),
    converged = lavInspect(fit, "converged"),
    iterations = lavInspect(fit, "iterations"),
    lavaan_options = options_record(fit),
    test = test_record(fit),
    vcov = matrix_record(lavInspect(fit, "vcov")),
    implied = moments_record(lavInspect(fit, "implied"), fit),
    sample = moments_record(lavInspect(fit, "sampstat"), fit),
    constraints = constraints_record(fit)
  )
  if (!with_vcov) out$vcov <- NULL
  out
}

# Write one fit as <name>.json. `r_call` is evaluated in `env` to fit the model,
# so the stored text is exactly the call that produced the numbers.
fit_and_write <- function(name, description, r_call, model, env, options = list(),
                          data_file, data_preparation = "", extra = NULL,
                          with_vcov = TRUE) {
  fit <- eval(parse(text = r_call), envir = env)
  if (!lavInspect(fit, "converged")) stop(name, ": lavaan did not converge")

  added_extra <- if (is.function(extra)) extra(fit) else extra
  stored_extra <- c(standard_extra(fit, with_vcov), added_extra)
  record <- list(
    name = name,
    description = description,
    r_call = r_call,
    model = model,
    data_file = data_file,
    data_preparation = data_preparation,
    lavaan_version = as.character(packageVersion("lavaan")),
    r_version = R.version.string,
    options = if (length(options) == 0L) empty_object() else options,
    estimates = estimates_table(fit),
    fit_measures = named_vector_record(fitMeasures(fit)),
    r_squared = r_squared_record(fit),
    extra = stored_extra
  )
  write_json_file(record, paste0(name, ".json"))
  invisible(fit)
}
